using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using ShopAstro.EdgeApi.Decisions;
using ShopAstro.EdgeApi.Telemetry;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Consistency;

/// <summary>
/// The edge's decision cache (leases granted by subject grains) answers checks without a grain call, and every
/// change that can turn an allowed check into a denied one revokes the lease before it is acknowledged: a
/// withdrawal, a deletion, a cancellation, a minor, a suspended store, a material policy change. Each test
/// first takes a lease with an allowed check, so that without the revocation the next check would answer
/// allowed from the cache.
/// </summary>
public sealed class DecisionCacheTests(SqliteEdgeFixture fixture) : IClassFixture<SqliteEdgeFixture>
{
    private readonly HttpClient _client = fixture.Factory.ClientWith(EdgeApiFactory.AdminToken);

    private DecisionCache Cache => fixture.Factory.Services.GetRequiredService<DecisionCache>();

    [Fact]
    public async Task Repeated_checks_are_answered_from_the_lease_without_a_grain_call()
    {
        var store = await NewStoreAsync();
        await (await _client.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();

        using var lookups = Lookups();
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal((true, "granted"), await _client.DecideAsync(store, "u1", "analytics"));
        }

        Assert.Equal(0, lookups.Of("grain"));
        Assert.Equal(1, lookups.Of("lease"));
        Assert.Equal(49, lookups.Of("hit"));
    }

    public static TheoryData<string> RestrictiveChanges =>
        ["withdrawal", "deletion", "cancellation", "minor", "store suspended", "material policy change", "grant under GPC replaced"];

    [Theory]
    [MemberData(nameof(RestrictiveChanges))]
    public async Task A_change_that_denies_revokes_the_cached_lease_before_it_is_acknowledged(string change)
    {
        var store = await NewStoreAsync();
        // The grant given under GPC is allowed under GPC until a grant without it replaces it (rule 8).
        var gpc = change == "grant under GPC replaced";
        await (await _client.SetConsentAsync(store, "u1", "analytics", true, gpc: gpc)).ShouldBeOkAsync();
        Assert.Equal((true, "granted"), await _client.DecideAsync(store, "u1", "analytics", gpc: gpc));
        Assert.Equal((true, "granted"), await _client.DecideAsync(store, "u1", "analytics", gpc: gpc));

        var expected = change switch
        {
            "withdrawal" => await Acknowledged(_client.SetConsentAsync(store, "u1", "analytics", false), "withdrawn"),
            "deletion" => await Acknowledged(_client.DeleteAsync($"/v1/stores/{store}/subjects/u1"), "no_consent"),
            "cancellation" => await Acknowledged(_client.PostAsync($"/v1/stores/{store}/subjects/u1/cancel", null), "account_cancelled"),
            "minor" => await Acknowledged(
                _client.PutAsync($"/v1/stores/{store}/subjects/u1/age", ConsentApi.Json("""{"minor":true}""")), "minor"),
            "store suspended" => await Acknowledged(_client.PublishPolicyAsync(store, 2, status: "suspended"), "store_suspended"),
            "material policy change" => await Acknowledged(_client.PublishPolicyAsync(store, 2,
                """{"analytics":{"enabled":true,"materialChange":true},"recommendation":{"enabled":true,"materialChange":false}}"""),
                "reconsent_required"),
            "grant under GPC replaced" => await Acknowledged(_client.SetConsentAsync(store, "u1", "analytics", true), "global_privacy_control"),
            _ => throw new ArgumentOutOfRangeException(nameof(change), change, null),
        };

        Assert.Equal((false, expected), await _client.DecideAsync(store, "u1", "analytics", gpc: gpc));
    }

    [Fact]
    public async Task A_subject_grain_activated_again_revokes_the_leases_of_its_previous_activation()
    {
        var store = await NewStoreAsync();
        await (await _client.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        Assert.Equal((true, "granted"), await _client.DecideAsync(store, "u1", "analytics"));

        // Every idle activation goes, the subject's with its list of lease holders; the edge keeps its lease.
        var management = fixture.Factory.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0);
        await management.ForceActivationCollection(TimeSpan.Zero);
        using (var lookups = Lookups())
        {
            Assert.Equal((true, "granted"), await _client.DecideAsync(store, "u1", "analytics"));
            Assert.Equal(1, lookups.Of("hit"));
        }

        await (await _client.SetConsentAsync(store, "u1", "analytics", false)).ShouldBeOkAsync();
        Assert.Equal((false, "withdrawn"), await _client.DecideAsync(store, "u1", "analytics"));
    }

    [Fact]
    public async Task A_check_answered_from_a_lease_allocates_its_decisions_only()
    {
        var store = await NewStoreAsync();
        await (await _client.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        Assert.Equal((true, "granted"), await _client.DecideAsync(store, "u1", "analytics"));
        Purpose[] purposes = [Purpose.Analytics, Purpose.Cart];
        Assert.True(Cache.DecideAsync(store, "u1", purposes, RequestSignals.None).IsCompletedSuccessfully);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1_000; i++)
        {
            var decided = Cache.DecideAsync(store, "u1", purposes, RequestSignals.None);
            Assert.True(decided.IsCompletedSuccessfully);
        }

        // Per check: the decisions (an array of two, 48 bytes) and their set (32 bytes); no lease key ("{store}/u1",
        // 56 bytes), which is looked up from the stack.
        var perCheck = (GC.GetAllocatedBytesForCurrentThread() - before) / 1_000.0;
        Assert.True(perCheck <= 80, $"{perCheck} bytes allocated per check");
    }

    [Fact]
    public async Task Batch_decisions_use_the_same_leases()
    {
        var store = await NewStoreAsync();
        await (await _client.SetConsentAsync(store, "u1", "analytics", true)).ShouldBeOkAsync();
        Assert.Equal((true, "granted"), await _client.DecideAsync(store, "u1", "analytics"));
        await (await _client.SetConsentAsync(store, "u1", "analytics", false)).ShouldBeOkAsync();

        using var lookups = Lookups();
        using var response = await _client.PostAsync($"/v1/stores/{store}/decisions/batch", ConsentApi.Json(
            """{"items":[{"subjectId":"u1","purpose":"analytics"},{"subjectId":"u1","purpose":"cart"},{"subjectId":"u2","purpose":"analytics"}]}"""));
        var results = (await response.ReadJsonAsync())["results"]!.AsArray();
        Assert.Equal(["withdrawn", "contract", "no_consent"], results.Select(r => r!["reason"]!.GetValue<string>()));
        // u1's lease was revoked by the withdrawal; u2 was never written: its own lease, or the store's absence lease.
        Assert.Equal(2, lookups.Of("lease") + lookups.Of("absent"));
        Assert.True(Cache.Count >= 2);
    }

    [Fact]
    public async Task A_subject_without_a_record_is_decided_at_the_edge_from_the_stores_absence_lease()
    {
        var store = await NewStoreAsync();
        await AbsenceLeaseReadyAsync(store);

        using var lookups = Lookups();
        Assert.Equal((true, "contract"), await _client.DecideAsync(store, "never-seen", "cart"));
        Assert.Equal((false, "no_consent"), await _client.DecideAsync(store, "never-seen", "analytics"));
        Assert.Equal(2, lookups.Of("absent"));
        Assert.Equal(0, lookups.Of("lease") + lookups.Of("grain"));
    }

    [Fact]
    public async Task A_revocation_ends_the_edges_absent_view_of_the_subject()
    {
        var store = await NewStoreAsync();
        await AbsenceLeaseReadyAsync(store);
        Assert.Equal((false, "no_consent"), await _client.DecideAsync(store, "revoked", "analytics"));

        // As a subject grain revokes every registered edge when an earlier activation's leases may be out: that grain
        // cannot know whether this edge heard of the subject's first write.
        await Cache.Revoke(store, "revoked");

        using var lookups = Lookups();
        Assert.Equal((false, "no_consent"), await _client.DecideAsync(store, "revoked", "analytics"));
        Assert.Equal(0, lookups.Of("absent"));
        Assert.Equal(1, lookups.Of("lease") + lookups.Of("grain"));
    }

    [Theory]
    [InlineData("minor")]
    [InlineData("cancellation")]
    [InlineData("grant")]
    public async Task A_first_write_reaches_the_edges_that_decide_the_subject_as_absent_before_it_is_acknowledged(string write)
    {
        var store = await NewStoreAsync();
        await AbsenceLeaseReadyAsync(store);
        using var lookups = Lookups();
        Assert.Equal((true, "contract"), await _client.DecideAsync(store, "first", "cart"));
        Assert.Equal((false, "no_consent"), await _client.DecideAsync(store, "first", "analytics"));
        Assert.Equal(2, lookups.Of("absent"));

        switch (write)
        {
            case "minor":
                await Acknowledged(_client.PutAsync($"/v1/stores/{store}/subjects/first/age", ConsentApi.Json("""{"minor":true}""")), "");
                Assert.Equal((false, "minor"), await _client.DecideAsync(store, "first", "cart"));
                break;
            case "cancellation":
                await Acknowledged(_client.PostAsync($"/v1/stores/{store}/subjects/first/cancel", null), "");
                Assert.Equal((false, "account_cancelled"), await _client.DecideAsync(store, "first", "cart"));
                break;
            default:
                await (await _client.SetConsentAsync(store, "first", "analytics", true)).ShouldBeOkAsync();
                Assert.Equal((true, "granted"), await _client.DecideAsync(store, "first", "analytics"));
                break;
        }

        Assert.Equal(2, lookups.Of("absent"));
    }

    [Fact]
    public async Task A_policy_change_revokes_the_absence_lease_before_it_is_acknowledged()
    {
        var store = await NewStoreAsync();
        await AbsenceLeaseReadyAsync(store);
        Assert.Equal((true, "contract"), await _client.DecideAsync(store, "nobody", "cart"));

        await (await _client.PublishPolicyAsync(store, 2, status: "suspended")).ShouldBeOkAsync();
        Assert.Equal((false, "store_suspended"), await _client.DecideAsync(store, "nobody", "cart"));
    }

    [Fact]
    public async Task A_new_store_activation_reads_which_subjects_have_a_record_from_storage()
    {
        // A second host on the same database: its edge never saw the write, its store grain reads the index.
        await using var database = TestDatabase.Sqlite();
        var store = "idx-" + Guid.NewGuid().ToString("N")[..8];
        await using (var first = new EdgeApiFactory(database.ConnectionString))
        {
            var client = first.ClientWith(EdgeApiFactory.AdminToken);
            await (await client.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
            await (await client.SetConsentAsync(store, "written", "analytics", true)).ShouldBeOkAsync();
        }

        await using var second = new EdgeApiFactory(database.ConnectionString);
        var secondClient = second.ClientWith(EdgeApiFactory.AdminToken);
        var cache = second.Services.GetRequiredService<DecisionCache>();
        using var lookups = new LookupCounter(second.Services.GetRequiredService<EdgeMetrics>().Meter);
        await AbsenceLeaseReadyAsync(secondClient, cache, store, lookups);
        Assert.Equal((true, "granted"), await secondClient.DecideAsync(store, "written", "analytics"));
        Assert.Equal((false, "no_consent"), await secondClient.DecideAsync(store, "unwritten", "analytics"));
    }

    private async Task AbsenceLeaseReadyAsync(string store)
    {
        using var lookups = Lookups();
        await AbsenceLeaseReadyAsync(_client, Cache, store, lookups);
    }

    /// <summary>Checks unknown subjects until the edge decides one from the store's absence lease (taken in the background).</summary>
    private static async Task AbsenceLeaseReadyAsync(HttpClient client, DecisionCache cache, string store, LookupCounter lookups)
    {
        var until = DateTime.UtcNow.AddSeconds(20);
        for (var i = 0; lookups.Of("absent") == 0; i++)
        {
            Assert.True(DateTime.UtcNow < until, $"no absence lease for {store} (cache active: {cache.Active})");
            await client.DecideAsync(store, $"probe-{i}", "cart");
            await Task.Delay(20);
        }
    }

    private LookupCounter Lookups() => new(fixture.Factory.Services.GetRequiredService<EdgeMetrics>().Meter);

    private async Task<string> NewStoreAsync()
    {
        var store = "cache-" + Guid.NewGuid().ToString("N")[..8];
        await (await _client.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await fixture.Factory.RegisteredDecisionCacheAsync();
        return store;
    }

    private static async Task<string> Acknowledged(Task<HttpResponseMessage> change, string reason)
    {
        using var response = await change;
        Assert.True(response.IsSuccessStatusCode, $"the change answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return reason;
    }

    /// <summary>Counts this edge's decision-cache lookups by result while it lives (the counter is cumulative, read when asked).</summary>
    private sealed class LookupCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly Dictionary<string, long> _totals = [];
        private readonly Dictionary<string, long> _atStart;

        public LookupCounter(Meter meter)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter == meter && instrument.Name == "shopastro.decision_cache.lookups")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key == "result")
                    {
                        _totals[(string)tag.Value!] = value;
                    }
                }
            });
            _listener.Start();
            _atStart = Read();
        }

        public long Of(string result) => Read().GetValueOrDefault(result) - _atStart.GetValueOrDefault(result);

        private Dictionary<string, long> Read()
        {
            lock (_totals)
            {
                _listener.RecordObservableInstruments();
                return new Dictionary<string, long>(_totals);
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
