using System.Net;
using System.Text.Json.Nodes;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Silo.Storage;
using ShopAstro.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ShopAstro.Tests.Http;

/// <summary>
/// <c>GET /v1/stores/{storeId}/stats/history</c>: store grains store snapshots of their counters every
/// <c>StatsHistory:Interval</c> (1 s here), in the consent store, read back over HTTP, also by a new process.
/// </summary>
public sealed class StatsHistoryTests(ITestOutputHelper output)
{
    private static readonly Dictionary<string, string?> OneSecond = new() { ["StatsHistory:Interval"] = "00:00:01" };

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task Snapshots_are_stored_every_interval_and_a_restarted_service_reads_them_back(string kind)
    {
        await using var database = kind == "sqlite" ? TestDatabase.Sqlite() : await TestDatabase.PostgresAsync();
        const string Store = "hist1";
        JsonArray before;
        await using (var first = new EdgeApiFactory(database.ConnectionString, OneSecond))
        {
            using var admin = first.ClientWith(EdgeApiFactory.AdminToken);
            await (await admin.PublishPolicyAsync(Store, 1)).ShouldBeOkAsync();
            await (await admin.SetConsentAsync(Store, "u1", "analytics", true)).ShouldBeOkAsync();
            await (await admin.SetConsentAsync(Store, "u2", "analytics", true)).ShouldBeOkAsync();
            await WaitForSnapshotAsync(admin, Store, granted: 2, withdrawn: 0);
            await (await admin.SetConsentAsync(Store, "u3", "analytics", false)).ShouldBeOkAsync();
            var last = await WaitForSnapshotAsync(admin, Store, granted: 2, withdrawn: 1);

            var analytics = last["purposes"]!["analytics"]!;
            Assert.Equal(2.0 / 3, analytics["optInRate"]!.GetValue<double>(), 6);
            Assert.Equal(2, analytics["grants"]!.GetValue<long>());
            Assert.Equal(1, analytics["withdrawals"]!.GetValue<long>());
            before = (await ReadHistoryAsync(admin, Store))["snapshots"]!.AsArray();
            output.WriteLine($"{before.Count} snapshots before the restart");
            Assert.True(before.Count >= 2, before.ToJsonString());
            // Oldest first, one per distinct time.
            var times = before.Select(s => DateTimeOffset.Parse(s!["at"]!.GetValue<string>())).ToList();
            Assert.Equal(times.OrderBy(t => t).Distinct().ToList(), times);
        }

        // A new process over the same store (the default 5-minute interval: it adds nothing meanwhile).
        await using var second = new EdgeApiFactory(database.ConnectionString);
        using var seller = second.ClientWith(EdgeApiFactory.AdminToken);
        var after = (await ReadHistoryAsync(seller, Store))["snapshots"]!.AsArray();
        Assert.Equal(before.ToJsonString(), after.ToJsonString());
    }

    [Fact]
    public async Task Bad_ranges_are_400_with_a_code_and_the_route_is_for_sellers_of_the_store()
    {
        await using var database = TestDatabase.Sqlite();
        await using var factory = new EdgeApiFactory(database.ConnectionString);
        using var seller = factory.ClientWith(EdgeApiFactory.SellerS1Token);
        var path = "/v1/stores/s1/stats/history";

        await (await seller.GetAsync(path + "?from=yesterday")).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_from");
        await (await seller.GetAsync(path + "?to=2026-12-01")).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_to");
        await (await seller.GetAsync(path + "?from=2026-12-01T10:00:00Z&to=2026-12-01T09:00:00Z"))
            .ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_range");
        await (await seller.GetAsync(path + "?from=2026-11-01T00:00:00Z&to=2026-11-09T00:00:00Z"))
            .ShouldBeProblemAsync(HttpStatusCode.BadRequest, "range_too_long");
        await (await factory.ClientWith(EdgeApiFactory.AdminToken).GetAsync("/v1/stores/bad%20id/stats/history"))
            .ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_id");

        using var ok = await seller.GetAsync(path + "?from=2026-12-01T00:00:00%2B08:00&to=2026-12-02T00:00:00Z");
        await ok.ShouldBeOkAsync();
        var body = await ok.ReadJsonAsync();
        Assert.Equal("2026-11-30T16:00:00Z", body["from"]!.GetValue<string>());
        Assert.Empty(body["snapshots"]!.AsArray());

        await (await factory.ClientWith(EdgeApiFactory.StorefrontS1Token).GetAsync(path)).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await (await factory.ClientWith(EdgeApiFactory.SellerS2Token).GetAsync(path)).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await (await factory.ClientWith(null).GetAsync(path)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task Snapshots_past_the_retention_are_not_handed_out()
    {
        await using var database = TestDatabase.Sqlite();
        await using var factory = new EdgeApiFactory(database.ConnectionString, new Dictionary<string, string?> { ["StatsHistory:Retention"] = "1.00:00:00" });
        _ = factory.Server;
        var history = new ConsentStatsHistoryStore(ConsentStore.Parse(database.ConnectionString));
        var now = DateTimeOffset.UtcNow;
        foreach (var hoursAgo in new[] { 30, 2 })
        {
            await history.AppendAsync("s1", now.AddHours(-hoursAgo),
                new Dictionary<Purpose, PurposeStats> { [Purpose.Analytics] = new(0, 0, hoursAgo, 0, hoursAgo, 0) }, CancellationToken.None);
        }

        using var seller = factory.ClientWith(EdgeApiFactory.SellerS1Token);
        var from = Uri.EscapeDataString(now.AddDays(-3).ToString("yyyy-MM-ddTHH:mm:ssZ"));
        var snapshots = (await (await seller.GetAsync($"/v1/stores/s1/stats/history?from={from}")).ReadJsonAsync())["snapshots"]!.AsArray();
        Assert.Equal([2L], snapshots.Select(s => s!["purposes"]!["analytics"]!["granted"]!.GetValue<long>()));
    }

    /// <summary>The table and its queries on both stores: range, the newest row before a range, the purge keeping each purpose's newest older row.</summary>
    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task The_history_table_reads_ranges_and_purges_keeping_a_baseline(string kind)
    {
        await using var database = kind == "sqlite" ? TestDatabase.Sqlite() : await TestDatabase.PostgresAsync();
        var consent = ConsentStore.Parse(database.ConnectionString);
        await using (var connection = await consent.OpenAsync(CancellationToken.None))
        {
            await ConsentSchema.For(consent.Kind).ApplyAsync(connection, CancellationToken.None);
        }

        var store = new ConsentStatsHistoryStore(consent);
        var t0 = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        for (var i = 0; i < 4; i++)
        {
            await store.AppendAsync("p1", t0.AddHours(i), new Dictionary<Purpose, PurposeStats>
            {
                [Purpose.Analytics] = new(10 * i, 5 * i, i, 0, i, 0),
                [Purpose.Advertising] = new(0, 0, 0, i, 0, i),
            }, CancellationToken.None);
        }

        await store.AppendAsync("p2", t0, new Dictionary<Purpose, PurposeStats> { [Purpose.Analytics] = new(1, 1, 1, 1, 1, 1) }, CancellationToken.None);
        // Idempotent: the same snapshot again changes nothing.
        await store.AppendAsync("p1", t0.AddHours(3), new Dictionary<Purpose, PurposeStats> { [Purpose.Analytics] = new(99, 99, 99, 99, 99, 99) }, CancellationToken.None);

        var range = await store.ReadAsync("p1", t0.AddHours(1), t0.AddHours(3), withPrevious: false, CancellationToken.None);
        Assert.Equal([t0.AddHours(1), t0.AddHours(1), t0.AddHours(2), t0.AddHours(2)], range.Select(p => p.At));
        Assert.Equal(new PurposeStats(20, 10, 2, 0, 2, 0), range.Single(p => p.At == t0.AddHours(2) && p.Purpose == Purpose.Analytics).Stats);

        var withPrevious = await store.ReadAsync("p1", t0.AddHours(2), t0.AddHours(10), withPrevious: true, CancellationToken.None);
        Assert.Equal(6, withPrevious.Count);
        Assert.Equal(2, withPrevious.Count(p => p.At == t0.AddHours(1)));
        Assert.Equal(new PurposeStats(30, 15, 3, 0, 3, 0), withPrevious.Single(p => p.At == t0.AddHours(3) && p.Purpose == Purpose.Analytics).Stats);

        // Rows before 02:30 go, except the newest of each store and purpose before it (02:00 of p1, 00:00 of p2).
        var purged = await store.PurgeAsync(t0.AddHours(2.5), CancellationToken.None);
        Assert.Equal(4, purged);
        var left = await store.ReadAsync("p1", t0.AddDays(-1), t0.AddDays(1), withPrevious: false, CancellationToken.None);
        Assert.Equal([t0.AddHours(2), t0.AddHours(2), t0.AddHours(3), t0.AddHours(3)], left.Select(p => p.At));
        Assert.Single(await store.ReadAsync("p2", t0.AddDays(-1), t0.AddDays(1), withPrevious: false, CancellationToken.None));
        Assert.Equal(0, await store.PurgeAsync(t0.AddHours(2.5), CancellationToken.None));
    }

    private static async Task<JsonNode> ReadHistoryAsync(HttpClient client, string store)
    {
        using var response = await client.GetAsync($"/v1/stores/{store}/stats/history");
        await response.ShouldBeOkAsync();
        return await response.ReadJsonAsync();
    }

    private static async Task<JsonNode> WaitForSnapshotAsync(HttpClient client, string store, long granted, long withdrawn)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var snapshots = (await ReadHistoryAsync(client, store))["snapshots"]!.AsArray();
            var match = snapshots.LastOrDefault(s => s!["purposes"]?["analytics"] is { } a
                && a["granted"]!.GetValue<long>() == granted && a["withdrawn"]!.GetValue<long>() == withdrawn);
            if (match is not null)
            {
                return match;
            }

            Assert.True(DateTime.UtcNow < deadline, $"No snapshot with {granted} granted and {withdrawn} withdrawn: {snapshots.ToJsonString()}");
            await Task.Delay(250);
        }
    }
}
