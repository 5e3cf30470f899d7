using System.Net;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Durability;

/// <summary>
/// §4(2) as someone with database access sees it: two erasures of one subject leave archives nobody can tell belong
/// together. Run on SQLite and on PostgreSQL.
/// </summary>
public abstract class ErasureStorageTests : IAsyncLifetime
{
    private TestDatabase _database = null!;

    protected abstract Task<TestDatabase> CreateDatabaseAsync();

    public async Task InitializeAsync() => _database = await CreateDatabaseAsync();

    public async Task DisposeAsync() => await _database.DisposeAsync();

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
