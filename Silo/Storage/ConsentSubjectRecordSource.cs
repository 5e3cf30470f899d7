using System.Data;
using System.Runtime.CompilerServices;
using Orleans.Serialization;
using Orleans.Storage;
using ShopAstro.Grains;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Silo.Storage;

/// <summary>
/// A store's subject records straight from the state table, decoded with the storage provider's own serializer:
/// one sequential pass, rows streamed (never all in memory), no grain activated.
/// </summary>
internal sealed class ConsentSubjectRecordSource(ConsentStore store, Serializer serializer) : ISubjectRecordSource
{
    private readonly OrleansGrainStorageSerializer _payloads = new(serializer);

    public async IAsyncEnumerable<SubjectRecord> RecordsAsync(string storeId, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = await store.OpenAsync(cancellationToken);
        await using var command = StoreSubjectRows.Select(connection, storeId, "PayloadBinary");
        // A million rows take longer than a command's default 30 s on a busy machine; the caller's timeout bounds it.
        command.CommandTimeout = 0;
        await using var reader = await command.ExecuteReaderAsync(CommandBehavior.SequentialAccess, cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            if (_payloads.Deserialize<SubjectRecord>(new BinaryData((byte[])reader.GetValue(0))) is { } record)
            {
                yield return record;
            }
        }
    }
}
