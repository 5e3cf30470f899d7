using Microsoft.AspNetCore.SignalR;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Feed;

/// <summary>The hub: who may subscribe, and what a subscribed seller receives.</summary>
public sealed class LiveFeedTests(SqliteEdgeFixture fixture) : IClassFixture<SqliteEdgeFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_seller_receives_consent_policy_and_stats_changes_of_its_store_in_sequence()
    {
        var admin = fixture.Factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await admin.PublishPolicyAsync("s1", NextVersion())).ShouldBeOkAsync();
        await using var feed = FeedClient.InMemory(fixture.Factory.Server, EdgeApiFactory.SellerS1Token);
        var start = await feed.SubscribeAsync("s1");
        var subject = "feed-" + Guid.NewGuid().ToString("N")[..8];

        var policyVersion = NextVersion();
        await (await admin.PublishPolicyAsync("s1", policyVersion)).ShouldBeOkAsync();
        await (await admin.SetConsentAsync("s1", subject, "analytics", true, policyVersion: policyVersion)).ShouldBeOkAsync();
        await (await admin.SetConsentAsync("s1", subject, "analytics", false, policyVersion: policyVersion)).ShouldBeOkAsync();

        var policy = feed.Next(m => m.Type == "policyChanged" && m.Payload.GetProperty("policyVersion").GetInt32() == policyVersion, Wait);
        var granted = feed.Next(m => m.Type == "consentChanged" && m.Payload.GetProperty("subjectId").GetString() == subject, Wait);
        var withdrawn = feed.Next(m => m.Type == "consentChanged" && m.Payload.GetProperty("subjectId").GetString() == subject, Wait);
        Assert.Equal("s1", granted.StoreId);
        Assert.Equal("analytics", granted.Payload.GetProperty("purpose").GetString());
        Assert.True(granted.Payload.GetProperty("granted").GetBoolean());
        Assert.False(withdrawn.Payload.GetProperty("granted").GetBoolean());
        Assert.EndsWith("Z", granted.Payload.GetProperty("at").GetString());
        Assert.True(start < policy.Sequence && policy.Sequence < granted.Sequence && granted.Sequence < withdrawn.Sequence);

        var stats = feed.Next(m => m.Type == "statsChanged", Wait);
        Assert.Equal("s1", stats.StoreId);
        Assert.True(stats.Payload.GetProperty("stats").GetProperty("purposes").GetProperty("analytics").GetProperty("withdrawals").GetInt64() >= 1);
    }

    [Fact]
    public async Task A_connection_gets_nothing_of_a_store_it_did_not_subscribe_to()
    {
        var admin = fixture.Factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await admin.PublishPolicyAsync("s2", NextVersion())).ShouldBeOkAsync();
        await using var feed = FeedClient.InMemory(fixture.Factory.Server, EdgeApiFactory.SellerS1Token);
        await feed.SubscribeAsync("s1");

        await (await admin.SetConsentAsync("s2", "other-store-subject", "analytics", true)).ShouldBeOkAsync();

        Assert.Null(feed.TryNext(m => m.StoreId != "s1", TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public async Task A_store_A_seller_cannot_subscribe_to_store_B()
    {
        await using var feed = FeedClient.InMemory(fixture.Factory.Server, EdgeApiFactory.SellerS1Token);
        var error = await Assert.ThrowsAsync<HubException>(() => feed.SubscribeAsync("s2"));
        Assert.Contains("forbidden", error.Message, StringComparison.Ordinal);

        var admin = fixture.Factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await admin.PublishPolicyAsync("s2", NextVersion())).ShouldBeOkAsync();
        await (await admin.SetConsentAsync("s2", "b-subject", "analytics", true)).ShouldBeOkAsync();
        Assert.Null(feed.TryNext(_ => true, TimeSpan.FromSeconds(2)));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not-a-token")]
    [InlineData(EdgeApiFactory.StorefrontS1Token)]
    public async Task Anonymous_unknown_and_storefront_connections_cannot_subscribe_at_all(string? token)
    {
        await using var feed = FeedClient.InMemory(fixture.Factory.Server, token);
        await Assert.ThrowsAnyAsync<Exception>(() => feed.SubscribeAsync("s1"));
    }

    [Fact]
    public async Task Stats_over_http_count_checks_grants_withdrawals_and_the_opt_in_rate()
    {
        var admin = fixture.Factory.ClientWith(EdgeApiFactory.AdminToken);
        var store = "stats-" + Guid.NewGuid().ToString("N")[..8];
        await (await admin.PublishPolicyAsync(store, 1)).ShouldBeOkAsync();
        await (await admin.SetConsentAsync(store, "a", "analytics", true)).ShouldBeOkAsync();
        await (await admin.SetConsentAsync(store, "b", "analytics", true)).ShouldBeOkAsync();
        await (await admin.SetConsentAsync(store, "c", "analytics", true)).ShouldBeOkAsync();
        await (await admin.SetConsentAsync(store, "c", "analytics", false)).ShouldBeOkAsync();
        await admin.DecideAsync(store, "a", "analytics");
        await admin.DecideAsync(store, "c", "analytics");

        var deadline = DateTime.UtcNow + Wait;
        System.Text.Json.Nodes.JsonNode analytics;
        do
        {
            await Task.Delay(200);
            analytics = (await (await admin.GetAsync($"/v1/stores/{store}/stats")).ReadJsonAsync())["purposes"]!["analytics"]!;
        }
        while (analytics["checks"]!.GetValue<long>() < 2 && DateTime.UtcNow < deadline);

        Assert.Equal(2, analytics["checks"]!.GetValue<long>());
        Assert.Equal(1, analytics["allowed"]!.GetValue<long>());
        Assert.Equal(3, analytics["grants"]!.GetValue<long>());
        Assert.Equal(1, analytics["withdrawals"]!.GetValue<long>());
        Assert.Equal(2, analytics["granted"]!.GetValue<long>());
        Assert.Equal(1, analytics["withdrawn"]!.GetValue<long>());
        Assert.Equal(2.0 / 3, analytics["optInRate"]!.GetValue<double>(), 6);
        await (await fixture.Factory.ClientWith(EdgeApiFactory.StorefrontS1Token).GetAsync("/v1/stores/s1/stats"))
            .ShouldBeProblemAsync(System.Net.HttpStatusCode.Forbidden);
    }

    private static int _version = 100;

    private static int NextVersion() => Interlocked.Increment(ref _version);
}
