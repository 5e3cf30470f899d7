using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using ShopAstro.Grains;

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
