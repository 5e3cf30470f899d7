using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Feed;

/// <summary>§4(5): an open request past its due date is flagged to the seller live, once.</summary>
public sealed class RequestOverdueFeedTests : IAsyncLifetime
{
    private TestDatabase _database = null!;
    private EdgeApiFactory _factory = null!;

    public Task InitializeAsync()
    {
        _database = TestDatabase.Sqlite();
        _factory = new EdgeApiFactory(_database.ConnectionString, new Dictionary<string, string?>
        {
            ["Consent:RequestOverdueCheck"] = "00:00:01",
            // A request received now is due after the built-in calendar's last year from mid-December on.
            ["Requests:AllowProvisionalDueDates"] = "true",
        });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _factory.DisposeAsync();
        await _database.DisposeAsync();
    }

    [Fact]
    public async Task An_overdue_request_is_pushed_as_requestOverdue_once_and_a_fresh_one_is_not()
    {
        var seller = _factory.ClientWith(EdgeApiFactory.SellerS1Token);
        await using var feed = FeedClient.InMemory(_factory.Server, EdgeApiFactory.SellerS1Token);
        await feed.SubscribeAsync("s1");

        var old = await (await seller.PostAsync("/v1/stores/s1/requests",
            ConsentApi.Json("""{"subjectId":"late1","type":"deletion","receivedAt":"2026-01-05T09:00:00Z"}"""))).ReadJsonAsync();
        await (await seller.PostAsync("/v1/stores/s1/requests", ConsentApi.Json("""{"subjectId":"fresh1","type":"access"}""")))
            .ShouldBeOkAsync(System.Net.HttpStatusCode.Created);

        var overdue = feed.Next(m => m.Type == "requestOverdue", TimeSpan.FromSeconds(15));
        Assert.Equal(old["id"]!.GetValue<string>(), overdue.Payload.GetProperty("requestId").GetString());
        Assert.Equal("late1", overdue.Payload.GetProperty("subjectId").GetString());
        Assert.Equal("deletion", overdue.Payload.GetProperty("type").GetString());
        Assert.Equal("2026-01-26T15:59:59Z", overdue.Payload.GetProperty("dueAt").GetString());
        Assert.Null(feed.TryNext(m => m.Type == "requestOverdue", TimeSpan.FromSeconds(3)));
    }
}
