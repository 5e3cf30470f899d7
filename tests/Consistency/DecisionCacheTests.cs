using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using ShopAstro.EdgeApi.Decisions;
using ShopAstro.EdgeApi.Telemetry;
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
        Assert.Equal(2, lookups.Of("lease"));
        Assert.True(Cache.Count >= 2);
    }

    private LookupCounter Lookups() => new(fixture.Factory.Services.GetRequiredService<EdgeMetrics>().Meter);

    private async Task<string> NewStoreAsync()
    {
        var store = "cache-" + Guid.NewGuid().ToString("N")[..8];
        await (await _client.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        // The cache answers only once this edge is registered as a lease holder (at start-up).
        var until = DateTime.UtcNow.AddSeconds(20);
        while (!Cache.Active && DateTime.UtcNow < until)
        {
            await Task.Delay(50);
        }

        Assert.True(Cache.Active, "the decision cache must be registered");
        return store;
    }

    private static async Task<string> Acknowledged(Task<HttpResponseMessage> change, string reason)
    {
        using var response = await change;
        Assert.True(response.IsSuccessStatusCode, $"the change answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return reason;
    }

    /// <summary>Counts this edge's decision-cache lookups by result while it lives.</summary>
    private sealed class LookupCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly Dictionary<string, long> _counts = [];

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
                        lock (_counts)
                        {
                            _counts[(string)tag.Value!] = _counts.GetValueOrDefault((string)tag.Value!) + value;
                        }
                    }
                }
            });
            _listener.Start();
        }

        public long Of(string result)
        {
            lock (_counts)
            {
                return _counts.GetValueOrDefault(result);
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
