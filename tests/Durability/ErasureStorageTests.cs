using System.Net;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Durability;

/// <summary>
/// §4(2) as someone with database access sees it: after a deletion no table names the subject's visitors (archived
/// receipts, reminder rows), the account's id is left only as its own tombstone's key, and two erasures of one
/// subject leave archives nobody can tell belong together. Run on SQLite and on PostgreSQL.
/// </summary>
public abstract class ErasureStorageTests : IAsyncLifetime
{
    private TestDatabase _database = null!;

    protected abstract Task<TestDatabase> CreateDatabaseAsync();

    public async Task InitializeAsync() => _database = await CreateDatabaseAsync();

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task Deleting_an_account_leaves_no_raw_id_of_a_visitor_linked_into_it()
    {
        var visitor = "anon:v" + Guid.NewGuid().ToString("N")[..12];
        var account = "acct" + Guid.NewGuid().ToString("N")[..12];
        await using var factory = new EdgeApiFactory(_database.ConnectionString);
        var client = factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
        await (await client.SetConsentAsync("s1", visitor, "analytics", true)).ShouldBeOkAsync();
        await (await client.SetConsentAsync("s1", account, "recommendation", true)).ShouldBeOkAsync();
        await (await client.PostAsync($"/v1/stores/s1/subjects/{account}/link", ConsentApi.Json($$"""{"anonymousId":"{{visitor}}"}""")))
            .ShouldBeOkAsync();
        Assert.NotEmpty(await _database.PlacesNamingAsync(visitor));

        await (await client.DeleteAsync($"/v1/stores/s1/subjects/{account}")).ShouldBeOkAsync(HttpStatusCode.NoContent);

        Assert.Empty(await _database.PlacesNamingAsync(visitor));
        // What is left of the account: its tombstone (status erased and the receipt of the erasure), keyed by its id.
        Assert.Equal([$"state:subject=s1/{account}"], await _database.PlacesNamingAsync(account));
        Assert.Equal(2, (await _database.ArchiveKeysAsync("s1")).Count);
    }

    [Fact]
    public async Task Deleting_an_account_a_minor_visitor_was_linked_into_leaves_the_visitor_only_its_own_rows()
    {
        var visitor = "anon:m" + Guid.NewGuid().ToString("N")[..12];
        var account = "acct" + Guid.NewGuid().ToString("N")[..12];
        await using var factory = new EdgeApiFactory(_database.ConnectionString);
        var client = factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();
        await (await client.SetConsentAsync("s1", account, "recommendation", true)).ShouldBeOkAsync();
        await (await client.PutAsync($"/v1/stores/s1/subjects/{visitor}/age", ConsentApi.Json("""{"minor":true}""")))
            .ShouldBeOkAsync(HttpStatusCode.NoContent);
        await (await client.PostAsync($"/v1/stores/s1/subjects/{account}/link", ConsentApi.Json($$"""{"anonymousId":"{{visitor}}"}""")))
            .ShouldBeOkAsync();

        await (await client.DeleteAsync($"/v1/stores/s1/subjects/{account}")).ShouldBeOkAsync(HttpStatusCode.NoContent);

        // The visitor keeps its own minor status (and with it its row and retention reminder) until its retention
        // runs out; nothing of the account's names it any more.
        Assert.Equal(
            [$"reminder:subject/s1/{visitor}", $"state:subject=s1/{visitor}"],
            (await _database.PlacesNamingAsync(visitor)).Order(StringComparer.Ordinal));
        Assert.Equal("minor", (await (await client.GetAsync($"/v1/stores/s1/subjects/{account}")).ReadJsonAsync())["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Two_erasures_of_the_same_subject_leave_archives_under_unrelated_tokens()
    {
        await using var factory = new EdgeApiFactory(_database.ConnectionString);
        var client = factory.ClientWith(EdgeApiFactory.AdminToken);
        await (await client.PublishPolicyAsync("s1", 1)).ShouldBeOkAsync();

        await (await client.SetConsentAsync("s1", "u1", "analytics", true)).ShouldBeOkAsync();
        await (await client.DeleteAsync("/v1/stores/s1/subjects/u1")).ShouldBeOkAsync(HttpStatusCode.NoContent);
        await (await client.SetConsentAsync("s1", "u1", "analytics", false)).ShouldBeOkAsync();
        await (await client.DeleteAsync("/v1/stores/s1/subjects/u1")).ShouldBeOkAsync(HttpStatusCode.NoContent);

        var archives = await _database.ArchiveKeysAsync("s1");
        Assert.Equal(2, archives.Count);
        Assert.NotEqual(archives[0], archives[1]);
        Assert.All(archives, archive => Assert.DoesNotContain("u1", archive, StringComparison.Ordinal));
    }
}

public sealed class SqliteErasureStorageTests : ErasureStorageTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult(TestDatabase.Sqlite());
}

public sealed class PostgresErasureStorageTests : ErasureStorageTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => TestDatabase.PostgresAsync();
}
