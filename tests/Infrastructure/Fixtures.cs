namespace ShopAstro.Tests.Infrastructure;

/// <summary>One edge API over a fresh SQLite file, shared by a test class.</summary>
public sealed class SqliteEdgeFixture : IAsyncLifetime
{
    private TestDatabase _database = null!;

    public EdgeApiFactory Factory { get; private set; } = null!;

    public TestDatabase Database => _database;

    public Task InitializeAsync()
    {
        _database = TestDatabase.Sqlite();
        Factory = new EdgeApiFactory(_database.ConnectionString);
        _ = Factory.Server;
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await Factory.DisposeAsync();
        await _database.DisposeAsync();
    }
}
