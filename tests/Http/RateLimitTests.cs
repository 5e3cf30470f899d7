using System.Net;
using Microsoft.Extensions.DependencyInjection;
using ShopAstro.EdgeApi.Auth;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Http;

/// <summary>
/// Each token has its own bucket: one over its limit gets 429 with Retry-After, the others carry on. The buckets are
/// refilled by the test's clock, so a slow request does not let a refill in between.
/// </summary>
public sealed class RateLimitTests : IAsyncLifetime
{
    private readonly ManualTime _refills = new();
    private TestDatabase _database = null!;
    private EdgeApiFactory _factory = null!;

    public Task InitializeAsync()
    {
        _database = TestDatabase.Sqlite();
        _factory = new EdgeApiFactory(_database.ConnectionString, new Dictionary<string, string?>
        {
            ["RateLimits:PermitsPerSecond"] = "1",
            ["RateLimits:Burst"] = "5",
        }, services => services.AddKeyedSingleton<TimeProvider>(TokenRateLimits.ClockKey, _refills));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _factory.DisposeAsync();
        await _database.DisposeAsync();
    }

    [Fact]
    public async Task A_token_over_its_limit_gets_429_and_another_token_does_not()
    {
        var greedy = _factory.ClientWith(EdgeApiFactory.StorefrontS1Token);
        var (statuses, limited) = await SendAsync(greedy, 12);

        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.OK, 5), .. Enumerable.Repeat(HttpStatusCode.TooManyRequests, 7)], statuses);
        Assert.NotNull(limited);
        await limited.ShouldBeProblemAsync(HttpStatusCode.TooManyRequests, "rate_limited");
        Assert.True(limited.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));

        // A second refills one permit (1 per second), no more: the bucket holds the limit, not the burst again.
        _refills.MoveTo(TimeSpan.FromSeconds(1));
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.TooManyRequests], (await SendAsync(greedy, 2)).Statuses);
        // Twenty seconds refill the burst and no more: six requests, five permits.
        _refills.MoveTo(TimeSpan.FromSeconds(20));
        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.OK, 5), HttpStatusCode.TooManyRequests], (await SendAsync(greedy, 6)).Statuses);

        await (await _factory.ClientWith(EdgeApiFactory.SellerS1Token).GetAsync("/v1/stores/s1/subjects/u1/decisions?purpose=cart")).ShouldBeOkAsync();
        // Operations endpoints are never limited.
        await (await greedy.GetAsync("/health/live")).ShouldBeOkAsync();
    }

    private static async Task<(List<HttpStatusCode> Statuses, HttpResponseMessage? Limited)> SendAsync(HttpClient client, int requests)
    {
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? limited = null;
        for (var i = 0; i < requests; i++)
        {
            var response = await client.GetAsync("/v1/stores/s1/subjects/u1/decisions?purpose=cart");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                limited ??= response;
            }
        }

        return (statuses, limited);
    }
}
