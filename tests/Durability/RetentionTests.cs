using System.Net;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Durability;

/// <summary>
/// §2(3): an anonymous visitor's data is deleted at most N days after it was last written, by a durable
/// reminder that survives the host. Run with a window of seconds; the stored row must really be gone.
/// </summary>
public abstract class RetentionTests : IAsyncLifetime
{
    private static readonly Dictionary<string, string?> ShortRetention = new()
    {
        ["Consent:AnonymousRetention"] = "00:00:03",
        ["Consent:AnonymousRetentionCheck"] = "00:00:01",
    };

    private TestDatabase _database = null!;

    protected abstract Task<TestDatabase> CreateDatabaseAsync();

    public async Task InitializeAsync() => _database = await CreateDatabaseAsync();

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task An_anonymous_visitors_row_is_deleted_after_the_window_and_an_accounts_is_not()
    {
        await using var factory = new EdgeApiFactory(_database.ConnectionString, ShortRetention);
        var client = factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
        await (await client.SetConsentAsync("s1", "anon:visitor1", "analytics", true)).ShouldBeOkAsync();
        await (await client.SetConsentAsync("s1", "account1", "analytics", true)).ShouldBeOkAsync();
        Assert.Equal(1L, await RowsOf("anon:visitor1"));

        await WaitUntilGone("anon:visitor1", TimeSpan.FromSeconds(30));

        Assert.Equal((false, "no_consent"), await client.DecideAsync("s1", "anon:visitor1", "analytics"));
        Assert.Equal(1L, await RowsOf("account1"));
        Assert.Equal((true, "granted"), await client.DecideAsync("s1", "account1", "analytics"));
    }

    [Fact]
    public async Task A_later_write_restarts_the_window()
    {
        await using var factory = new EdgeApiFactory(_database.ConnectionString, ShortRetention);
        var client = factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
        await (await client.SetConsentAsync("s1", "anon:visitor2", "analytics", true)).ShouldBeOkAsync();
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        // Timed from the request: the write's own time lies between it and the acknowledgement, which may come late
        // (a withdrawal waits for an edge that did not confirm its revocation).
        var rewrittenAt = DateTime.UtcNow;
        await (await client.SetConsentAsync("s1", "anon:visitor2", "analytics", false)).ShouldBeOkAsync();

        // Deleted no earlier than the window minus one check after the last write, and then surely.
        Assert.Equal(1L, await RowsOf("anon:visitor2"));
        await WaitUntilGone("anon:visitor2", TimeSpan.FromSeconds(30));
        Assert.True(DateTime.UtcNow - rewrittenAt >= TimeSpan.FromSeconds(1.5), "deleted too early");
    }

    [Fact]
    public async Task The_reminder_survives_the_host_being_replaced()
    {
        await using (var first = new EdgeApiFactory(_database.ConnectionString, ShortRetention))
        {
            var client = first.ClientWith(EdgeApiFactory.AdminToken);
            await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
            await (await client.SetConsentAsync("s1", "anon:visitor3", "analytics", true)).ShouldBeOkAsync();
        }

        Assert.Equal(1L, await RowsOf("anon:visitor3"));
        // Nothing activates the visitor in the new host: only its reminder can delete it.
        await using var second = new EdgeApiFactory(_database.ConnectionString, ShortRetention);
        _ = second.Server;
        await WaitUntilGone("anon:visitor3", TimeSpan.FromSeconds(60));
    }

    [Theory]
    [InlineData("age")]
    [InlineData("cancel")]
    [InlineData("delete")]
    public async Task An_anonymous_row_made_by_a_status_change_alone_is_deleted_after_the_window(string change)
    {
        var visitor = $"anon:{change}-only";
        await using var factory = new EdgeApiFactory(_database.ConnectionString, ShortRetention);
        var client = factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
        if (change == "delete")
        {
            // A deletion leaves a row only where there was one; the visitor's row is then the tombstone.
            await (await client.SetConsentAsync("s1", visitor, "analytics", true)).ShouldBeOkAsync();
            Assert.Equal(1L, await RemindersOf(visitor));
        }

        var response = change switch
        {
            "age" => await client.PutAsync($"/v1/stores/s1/subjects/{visitor}/age", ConsentApi.Json("""{"minor":true}""")),
            "cancel" => await client.PostAsync($"/v1/stores/s1/subjects/{visitor}/cancel", null),
            _ => await client.DeleteAsync($"/v1/stores/s1/subjects/{visitor}"),
        };
        await response.ShouldBeOkAsync(HttpStatusCode.NoContent);

        // The reminder is stored before the change is acknowledged.
        Assert.Equal(1L, await RemindersOf(visitor));
        Assert.Equal(1L, await RowsOf(visitor));
        await WaitUntilGone(visitor, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_write_whose_retention_reminder_cannot_be_stored_fails_and_stores_nothing()
    {
        await using var factory = new EdgeApiFactory(_database.ConnectionString, ShortRetention);
        var client = factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
        await _database.ExecuteAsync("ALTER TABLE ConsentReminders RENAME TO ConsentRemindersAway");
        try
        {
            var refused = await client.SetConsentAsync("s1", "anon:no-date", "analytics", true);
            await refused.ShouldBeProblemAsync(HttpStatusCode.ServiceUnavailable, "unavailable");
            Assert.Equal(0L, await RowsOf("anon:no-date"));
            Assert.Equal((false, "no_consent"), await client.DecideAsync("s1", "anon:no-date", "analytics"));
        }
        finally
        {
            await _database.ExecuteAsync("ALTER TABLE ConsentRemindersAway RENAME TO ConsentReminders");
        }

        // With the reminder table back, the same write is stored with its deletion date.
        await (await client.SetConsentAsync("s1", "anon:no-date", "analytics", true)).ShouldBeOkAsync();
        Assert.Equal(1L, await RemindersOf("anon:no-date"));
        await WaitUntilGone("anon:no-date", TimeSpan.FromSeconds(30));
    }

    private async Task<long> RemindersOf(string subjectId) => Convert.ToInt64(await _database.ExecuteAsync(
        $"SELECT COUNT(*) FROM ConsentReminders WHERE GrainId LIKE '%/{subjectId}'"));

    private async Task<long> RowsOf(string subjectId) => Convert.ToInt64(await _database.ExecuteAsync(
        $"SELECT COUNT(*) FROM ConsentGrainState WHERE GrainTypeString = 'subject' AND GrainIdExtensionString LIKE '%/{subjectId}'"));

    private async Task WaitUntilGone(string subjectId, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (await RowsOf(subjectId) > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{subjectId}'s row was still stored after {timeout}");
            await Task.Delay(250);
        }
    }
}

public sealed class SqliteRetentionTests : RetentionTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult(TestDatabase.Sqlite());
}

public sealed class PostgresRetentionTests : RetentionTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => TestDatabase.PostgresAsync();
}
