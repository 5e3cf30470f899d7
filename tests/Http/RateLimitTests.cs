using System.Net;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Http;

/// <summary>Each token has its own bucket: one over its limit gets 429 with Retry-After, the others carry on.</summary>
public sealed class RateLimitTests : IAsyncLifetime
{
    private TestDatabase _database = null!;
    private EdgeApiFactory _factory = null!;

    public Task InitializeAsync()
    {
        _database = TestDatabase.Sqlite();
        _factory = new EdgeApiFactory(_database.ConnectionString, new Dictionary<string, string?>
        {
            ["RateLimits:PermitsPerSecond"] = "1",
            ["RateLimits:Burst"] = "5",
        });
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
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 12; i++)
        {
            var response = await greedy.GetAsync("/v1/stores/s1/subjects/u1/decisions?purpose=cart");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                limited ??= response;
            }
        }

        Assert.Equal(5, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.NotNull(limited);
        await limited.ShouldBeProblemAsync(HttpStatusCode.TooManyRequests, "rate_limited");
        Assert.True(limited.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));

        await (await _factory.ClientWith(EdgeApiFactory.SellerS1Token).GetAsync("/v1/stores/s1/subjects/u1/decisions?purpose=cart")).ShouldBeOkAsync();
        // Operations endpoints are never limited.
        await (await greedy.GetAsync("/health/live")).ShouldBeOkAsync();
    }
}
