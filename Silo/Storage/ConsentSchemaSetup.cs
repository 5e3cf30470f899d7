using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using ShopAstro.Grains;
using ShopAstro.Grains.Leases;

namespace ShopAstro.Silo.Storage;

/// <summary>Applies the schema before Orleans' ADO.NET grain storage loads its queries.</summary>
internal sealed partial class ConsentSchemaSetup(ConsentStore store, ILogger<ConsentSchemaSetup> logger)
    : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(ConsentSchemaSetup), ServiceLifecycleStage.RuntimeInitialize, ApplyAsync);

    private async Task ApplyAsync(CancellationToken cancellationToken)
    {
        if (store.SqliteFile is { } file)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        }

        await using var connection = await store.OpenAsync(cancellationToken);
        await ConsentSchema.For(store.Kind).ApplyAsync(connection, cancellationToken);
        LogApplied(store.Kind);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Consent schema applied ({Kind})")]
    private partial void LogApplied(ConsentStoreKind kind);
}

/// <summary>Readiness: the consent store answers a trivial query.</summary>
internal sealed class ConsentStorageProbe(ConsentStore store) : IStorageProbe
{
    public async Task CheckAsync(CancellationToken cancellationToken)
    {
        await using var connection = await store.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT 1";
        await command.ExecuteScalarAsync(cancellationToken);
    }
}

/// <summary>
/// A store's subjects with a row, straight from the state table (<see cref="StoreSubjectRows"/>): run once per
/// store activation.
/// </summary>
internal sealed class ConsentSubjectIndexSource(ConsentStore store) : ISubjectIndexSource
{
    public async Task<IReadOnlyList<string>> SubjectsWithRecordsAsync(string storeId, CancellationToken cancellationToken)
    {
        var prefix = StoreSubjectRows.KeyPrefix(storeId);
        await using var connection = await store.OpenAsync(cancellationToken);
        await using var command = StoreSubjectRows.Select(connection, storeId, "GrainIdExtensionString");
        var subjects = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            subjects.Add(reader.GetString(0)[prefix.Length..]);
        }

        return subjects;
    }
}
