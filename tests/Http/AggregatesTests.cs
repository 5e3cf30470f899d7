using System.Net;
using System.Text.Json.Nodes;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Silo.Storage;
using ShopAstro.Tests.Feed;
using ShopAstro.Tests.Infrastructure;
using ShopAstro.Tests.Security;

namespace ShopAstro.Tests.Http;

/// <summary>The edge API with partner tokens: one for store "agg" (and s1), one for store s2 only.</summary>
public sealed class PartnerFixture : IAsyncLifetime
{
    public const string PartnerToken = "test-partner-agg-token";
    public const string OtherPartnerToken = "test-partner-s2-token";
    public const string SellerToken = "test-seller-agg-token";
    public const string Store = "agg";

    private readonly TestDatabase _database = TestDatabase.Sqlite();

    public EdgeApiFactory Factory { get; private set; } = null!;

    /// <summary>Today (UTC) when the fixture seeded the history; its days are relative to it.</summary>
    public DateOnly Today { get; private set; }

    public Task InitializeAsync()
    {
        Factory = new EdgeApiFactory(_database.ConnectionString, new Dictionary<string, string?>
        {
            ["Auth:Tokens:4:Token"] = PartnerToken,
            ["Auth:Tokens:4:Role"] = "partner",
            ["Auth:Tokens:4:Stores:0"] = Store,
            ["Auth:Tokens:4:Stores:1"] = "s1",
            ["Auth:Tokens:5:Token"] = OtherPartnerToken,
            ["Auth:Tokens:5:Role"] = "partner",
            ["Auth:Tokens:5:Stores:0"] = "s2",
            ["Auth:Tokens:6:Token"] = SellerToken,
            ["Auth:Tokens:6:Role"] = "seller",
            ["Auth:Tokens:6:Stores:0"] = Store,
        });
        _ = Factory.Server;
        return SeedAsync();
    }

    /// <summary>
    /// Snapshots of store "agg" as its store grain would have stored them (cumulative counters), on the three days
    /// before today and today, with a baseline the evening before:
    /// analytics day -3: +30 grants, +3 withdrawals, 527 opted in; day -2: +15, +12, 530; day -1: +5, +0, 535;
    /// today: +1. Recommendation: a handful of subjects throughout.
    /// </summary>
    private async Task SeedAsync()
    {
        Today = CurrentDay();
        var history = new ConsentStatsHistoryStore(ConsentStore.Parse(_database.ConnectionString));
        async Task At(int day, int hour, PurposeStats analytics, PurposeStats recommendation) =>
            await history.AppendAsync(Store, Midnight(day).AddHours(hour),
                new Dictionary<Purpose, PurposeStats> { [Purpose.Analytics] = analytics, [Purpose.Recommendation] = recommendation },
                CancellationToken.None);

        await At(-4, 23, new(1000, 600, 100, 50, 500, 40), new(10, 5, 2, 0, 2, 0));
        await At(-3, 9, new(1100, 650, 120, 51, 520, 41), new(10, 5, 3, 0, 3, 0));
        await At(-3, 22, new(1200, 700, 130, 53, 527, 43), new(10, 5, 4, 1, 3, 1));
        await At(-2, 12, new(1300, 750, 145, 65, 530, 55), new(10, 5, 4, 1, 3, 1));
        await At(-1, 8, new(1400, 800, 150, 65, 535, 55), new(10, 5, 4, 1, 3, 1));
        await At(0, 0, new(1500, 850, 151, 65, 536, 55), new(10, 5, 4, 1, 3, 1));
    }

    /// <summary>The day not yet given: today, or yesterday for the first minutes after midnight (the settle time).</summary>
    public static DateOnly CurrentDay() =>
        DateOnly.FromDateTime(DateTime.UtcNow - ShopAstro.EdgeApi.Endpoints.StatsHistoryEndpoints.AggregateSettleTime);

    public DateTimeOffset Midnight(int day) => new(Today.AddDays(day).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);

    public string Day(int day) => Today.AddDays(day).ToString("yyyy-MM-dd");

    public async Task DisposeAsync()
    {
        await Factory.DisposeAsync();
        await _database.DisposeAsync();
    }
}

/// <summary>
/// <c>GET /v1/stores/{storeId}/aggregates</c> and the <c>partner</c> role: counts per purpose and ended UTC day, with
/// cells under <c>Aggregates:MinimumGroupSize</c> (10) suppressed; partners read nothing else.
/// </summary>
public sealed class AggregatesTests(PartnerFixture fixture) : IClassFixture<PartnerFixture>
{
    private HttpClient Partner => fixture.Factory.ClientWith(PartnerFixture.PartnerToken);

    [Fact]
    public async Task A_partner_gets_the_ended_days_with_small_cells_suppressed()
    {
        // The test's days were seeded relative to the fixture's today: a midnight in between would shift them.
        Assert.Equal(fixture.Today, PartnerFixture.CurrentDay());
        var body = await GetAsync(Partner, $"?from={fixture.Day(-3)}&to={fixture.Day(0)}");

        Assert.Equal("agg", body["storeId"]!.GetValue<string>());
        Assert.Equal(10, body["minimumGroupSize"]!.GetValue<int>());
        // Today has not ended: it is not given, even when asked for.
        var days = body["days"]!.AsArray();
        Assert.Equal([fixture.Day(-3), fixture.Day(-2), fixture.Day(-1)], days.Select(d => d!["date"]!.GetValue<string>()));
        // No totals anywhere: a day holds its date and its purposes, a purpose its three cells.
        Assert.All(days, d => Assert.Equal(["date", "purposes"], d!.AsObject().Select(p => p.Key)));
        Assert.All(days, d => Assert.Equal(["analytics", "recommendation", "advertising", "affiliate_sharing"], d!["purposes"]!.AsObject().Select(p => p.Key)));

        // Day -3: 30 grants shown; 3 withdrawals suppressed, and so is the opted-in count, whose change from the day
        // before (527 - 500) would bound them.
        AssertCell(days[0]!, "analytics", "grants", 30);
        AssertCell(days[0]!, "analytics", "withdrawals", null);
        AssertCell(days[0]!, "analytics", "optedIn", null);
        // Day -2: every cell at or over 10.
        AssertCell(days[1]!, "analytics", "grants", 15);
        AssertCell(days[1]!, "analytics", "withdrawals", 12);
        AssertCell(days[1]!, "analytics", "optedIn", 530);
        // Day -1: 5 grants and no withdrawal, both suppressed (zero too), so the opted-in count as well.
        AssertCell(days[2]!, "analytics", "grants", null);
        AssertCell(days[2]!, "analytics", "withdrawals", null);
        AssertCell(days[2]!, "analytics", "optedIn", null);
        // A purpose with a handful of subjects, and purposes nobody chose: nothing but suppressed cells.
        foreach (var day in days)
        {
            foreach (var purpose in new[] { "recommendation", "advertising", "affiliate_sharing" })
            {
                foreach (var metric in new[] { "grants", "withdrawals", "optedIn" })
                {
                    AssertCell(day!, purpose, metric, null);
                }
            }
        }
    }

    [Fact]
    public async Task Overlapping_and_repeated_queries_answer_each_day_identically_and_sellers_get_the_same_export()
    {
        var all = await GetAsync(Partner, $"?from={fixture.Day(-3)}&to={fixture.Day(-1)}");
        var firstTwo = await GetAsync(Partner, $"?from={fixture.Day(-3)}&to={fixture.Day(-2)}");
        var lastTwo = await GetAsync(Partner, $"?from={fixture.Day(-2)}&to={fixture.Day(-1)}");
        var single = await GetAsync(Partner, $"?from={fixture.Day(-2)}&to={fixture.Day(-2)}");
        var days = all["days"]!.AsArray();
        Assert.Equal(days[0]!.ToJsonString(), firstTwo["days"]![0]!.ToJsonString());
        Assert.Equal(days[1]!.ToJsonString(), firstTwo["days"]![1]!.ToJsonString());
        Assert.Equal(days[1]!.ToJsonString(), lastTwo["days"]![0]!.ToJsonString());
        Assert.Equal(days[2]!.ToJsonString(), lastTwo["days"]![1]!.ToJsonString());
        Assert.Equal(days[1]!.ToJsonString(), single["days"]![0]!.ToJsonString());

        // The default range ends yesterday; the partner-safe export reads the same for the store's seller and an admin.
        var byDefault = await GetAsync(Partner, "");
        Assert.Equal(fixture.Day(-1), byDefault["days"]!.AsArray().Last()!["date"]!.GetValue<string>());
        Assert.Equal(7, byDefault["days"]!.AsArray().Count);
        var sellerS1 = await GetAsync(fixture.Factory.ClientWith(EdgeApiFactory.SellerS1Token), "", store: "s1");
        var partnerS1 = await GetAsync(Partner, "", store: "s1");
        Assert.Equal(partnerS1.ToJsonString(), sellerS1.ToJsonString());
        var admin = await GetAsync(fixture.Factory.ClientWith(EdgeApiFactory.AdminToken), $"?from={fixture.Day(-3)}&to={fixture.Day(-1)}");
        Assert.Equal(all.ToJsonString(), admin.ToJsonString());
        // On the seeded days, whose cells are partly suppressed and partly not, the store's own seller reads the same.
        var seller = await GetAsync(fixture.Factory.ClientWith(PartnerFixture.SellerToken), $"?from={fixture.Day(-3)}&to={fixture.Day(-1)}");
        Assert.Equal(all.ToJsonString(), seller.ToJsonString());
        Assert.Contains("\"suppressed\":true", seller.ToJsonString());
        Assert.Contains("\"suppressed\":false", seller.ToJsonString());
    }

    [Fact]
    public async Task Bad_dates_are_400_with_a_code_and_other_stores_and_roles_are_refused()
    {
        var path = $"/v1/stores/{PartnerFixture.Store}/aggregates";
        await (await Partner.GetAsync(path + "?from=2026-13-01")).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_from");
        await (await Partner.GetAsync(path + "?to=2026-12-01T00:00:00Z")).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_to");
        await (await Partner.GetAsync(path + "?from=2026-12-02&to=2026-12-01")).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "invalid_range");
        await (await Partner.GetAsync(path + "?from=2024-01-01&to=2026-01-01")).ShouldBeProblemAsync(HttpStatusCode.BadRequest, "range_too_long");

        await (await fixture.Factory.ClientWith(PartnerFixture.OtherPartnerToken).GetAsync(path)).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await (await fixture.Factory.ClientWith(EdgeApiFactory.SellerS1Token).GetAsync(path)).ShouldBeProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        await (await fixture.Factory.ClientWith(EdgeApiFactory.StorefrontS1Token).GetAsync("/v1/stores/s1/aggregates"))
            .ShouldBeProblemAsync(HttpStatusCode.Forbidden, "forbidden");
    }

    /// <summary>Every store route of the contract (with a well-formed request) and every other surface: 403 for a partner of the store.</summary>
    [Fact]
    public async Task A_partner_token_is_refused_on_every_route_but_the_aggregates()
    {
        var refused = new List<string>();
        var requests = SecurityRoutes.All.Where(r => r.Pattern != "/aggregates")
            .Select(r => (r.Method, Path: StoreRoute.Fill(r.FullPattern, "s1", "r1", "sys1"), Body: r.Body))
            .Concat(new (string, string, BodyKind)[]
            {
                ("GET", "/dashboard/s1", BodyKind.None),
                ("GET", "/dashboard/dashboard.js", BodyKind.None),
                ("GET", "/lib/chartjs/chart.umd.min.js", BodyKind.None),
                ("POST", "/hubs/consent/negotiate?negotiateVersion=1", BodyKind.None),
                ("GET", "/orleans/", BodyKind.None),
                ("GET", "/metrics", BodyKind.None),
                ("GET", "/health/ready", BodyKind.None),
                ("GET", "/openapi/v1.json", BodyKind.None),
                ("GET", "/v1/stores/s1/unknown", BodyKind.None),
            });
        foreach (var (method, path, body) in requests)
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (body != BodyKind.None)
            {
                request.Content = SecurityRoutes.Json(SecurityRoutes.ValidBody(body));
            }

            using var response = await Partner.SendAsync(request);
            if (response.StatusCode != HttpStatusCode.Forbidden)
            {
                refused.Add($"{method} {path}: {(int)response.StatusCode}");
                continue;
            }

            await response.ShouldBeProblemAsync(HttpStatusCode.Forbidden, "forbidden");
        }

        Assert.True(refused.Count == 0, "Not refused to the partner:\n" + string.Join("\n", refused));

        // The live feed refuses the partner's connection (query token, as browsers send it on WebSockets).
        await using var feed = FeedClient.InMemory(fixture.Factory.Server, PartnerFixture.PartnerToken);
        await Assert.ThrowsAnyAsync<Exception>(() => feed.SubscribeAsync("s1"));

        // And the one route it may call answers.
        using var aggregates = await Partner.GetAsync("/v1/stores/s1/aggregates");
        await aggregates.ShouldBeOkAsync();
    }

    private static void AssertCell(JsonNode day, string purpose, string metric, long? value)
    {
        var cell = day["purposes"]![purpose]![metric]!;
        var described = $"{day["date"]} {purpose}.{metric}: {cell.ToJsonString()}";
        Assert.True(cell.AsObject().Count == 2, described);
        if (value is null)
        {
            Assert.True(cell["value"] is null && cell["suppressed"]!.GetValue<bool>(), described);
            Assert.True(cell.AsObject().ContainsKey("value"), described);
        }
        else
        {
            Assert.True(cell["value"]!.GetValue<long>() == value && !cell["suppressed"]!.GetValue<bool>(), described);
        }
    }

    private static async Task<JsonNode> GetAsync(HttpClient client, string query, string store = PartnerFixture.Store)
    {
        using var response = await client.GetAsync($"/v1/stores/{store}/aggregates{query}");
        await response.ShouldBeOkAsync();
        return await response.ReadJsonAsync();
    }
}
