using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using Orleans.Storage;
using ShopAstro.Grains;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Silo.Storage;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Durability;

/// <summary>
/// The consent store's grain storage reads and writes rows keyed exactly as Orleans' ADO.NET provider keys them, for
/// string, integer and Guid keys with and without extensions: rows the provider wrote (before grouped reads and writes,
/// or by its clear) are this storage's rows, and the other way round. SQLite and PostgreSQL.
/// </summary>
public abstract class ConsentGrainStorageTests : IAsyncLifetime
{
    private TestDatabase _database = null!;

    protected abstract Task<TestDatabase> CreateDatabaseAsync();

    public async Task InitializeAsync() => _database = await CreateDatabaseAsync();

    public async Task DisposeAsync() => await _database.DisposeAsync();

    public static TheoryData<string> Keys => ["string", "integer", "integer+extension", "guid", "guid+extension"];

    [Theory]
    [MemberData(nameof(Keys))]
    public async Task Rows_written_by_Orleans_provider_are_read_and_updated_here_and_the_other_way_round(string kind)
    {
        await using var factory = new EdgeApiFactory(_database.ConnectionString);
        var storage = (ConsentGrainStorage)factory.Services.GetRequiredKeyedService<IGrainStorage>(StorageNames.Consent);
        var grain = GrainIdOf(kind);

        var byProvider = new GrainState<List<string>> { State = ["written by the provider"] };
        await storage.Provider.WriteStateAsync("compat", grain, byProvider);
        var read = new GrainState<List<string>>();
        await storage.ReadStateAsync("compat", grain, read);
        Assert.Equal(["written by the provider"], read.State);
        Assert.Equal((byProvider.ETag, true), (read.ETag, read.RecordExists));

        read.State = ["written here"];
        await storage.WriteStateAsync("compat", grain, read);
        var again = new GrainState<List<string>>();
        await storage.Provider.ReadStateAsync("compat", grain, again);
        Assert.Equal(["written here"], again.State);
        Assert.Equal((read.ETag, true), (again.ETag, again.RecordExists));

        // A stale version is refused here as by the provider, and the provider's clear removes the row read here.
        byProvider.State = ["stale"];
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("compat", grain, byProvider));
        await storage.Provider.ClearStateAsync("compat", grain, again);
        var cleared = new GrainState<List<string>>();
        await storage.ReadStateAsync("compat", grain, cleared);
        Assert.False(cleared.RecordExists);
        Assert.Null(cleared.ETag);
        Assert.Equal(0L, Convert.ToInt64(await _database.ExecuteAsync("SELECT COUNT(*) FROM ConsentGrainState WHERE GrainTypeString = 'compat'")));
    }

    private static GrainId GrainIdOf(string kind)
    {
        var type = GrainType.Create("compat");
        var guid = Guid.Parse("6f9619ff-8b86-d011-b42d-00c04fc964ff");
        return kind switch
        {
            "string" => GrainId.Create(type, "s1/u1"),
            "integer" => GrainId.Create(type, GrainIdKeyExtensions.CreateIntegerKey(7)),
            "integer+extension" => GrainId.Create(type, GrainIdKeyExtensions.CreateIntegerKey(7, "ext")),
            "guid" => GrainId.Create(type, GrainIdKeyExtensions.CreateGuidKey(guid)),
            _ => GrainId.Create(type, GrainIdKeyExtensions.CreateGuidKey(guid, "ext")),
        };
    }
}

public sealed class SqliteConsentGrainStorageTests : ConsentGrainStorageTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult(TestDatabase.Sqlite());
}

public sealed class PostgresConsentGrainStorageTests : ConsentGrainStorageTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => TestDatabase.PostgresAsync();
}
