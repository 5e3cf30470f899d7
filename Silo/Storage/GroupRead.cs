using System.Data.Common;

namespace ShopAstro.Silo.Storage;

/// <summary>
/// The state reads of activating grains, sent in groups (<see cref="StatementGroups{T, TResult}"/>): on PostgreSQL one round trip
/// for a group's SELECTs, each its own statement as before. A read sees what was committed when its statement ran,
/// never a write in flight: reads share no transaction with writes.
/// </summary>
internal sealed class GroupRead : IAsyncDisposable
{
    /// <summary>Groups of reads in flight at once.</summary>
    internal const int Lanes = 4;

    // The batch command's text (one statement, no trailing semicolon), made once rather than for every read.
    private static readonly string Read = ConsentSchema.PostgreSql.Read.TrimEnd().TrimEnd(';');

    private readonly ConsentStore _store;
    private readonly StatementGroups<ConsentRead, StoredRow?> _groups;

    public GroupRead(ConsentStore store)
    {
        _store = store;
        _groups = new StatementGroups<ConsentRead, StoredRow?>(Lanes, ReadGroupAsync);
    }

    /// <summary>Round trips made so far, and the reads they held (for tests and diagnostics).</summary>
    internal (long Groups, long Reads) Sent => _groups.Sent;

    public Task<StoredRow?> ReadAsync(ConsentRead read)
    {
        _groups.Queue(read, static () => new ShopAstro.Grains.Interfaces.StorageUnavailableException("The consent store is shutting down."));
        return read.Row;
    }

    public ValueTask DisposeAsync() => _groups.DisposeAsync();

    /// <summary>One group in one round trip (on SQLite, one after the other): each read's row, in the group's order.</summary>
    private async Task<StoredRow?[]> ReadGroupAsync(List<ConsentRead> group)
    {
        var rows = new StoredRow?[group.Count];
        await using var connection = await _store.OpenAsync(CancellationToken.None);
        if (_store.Kind == ConsentStoreKind.PostgreSql)
        {
            await using var batch = connection.CreateBatch();
            foreach (var read in group)
            {
                var command = batch.CreateBatchCommand();
                command.CommandText = Read;
                read.Bind(command.Parameters, command.CreateParameter);
                batch.BatchCommands.Add(command);
            }

            await using var reader = await batch.ExecuteReaderAsync();
            for (var i = 0; i < group.Count; i++)
            {
                if (i > 0 && !await reader.NextResultAsync())
                {
                    throw new InvalidOperationException($"The store answered {i} of {group.Count} reads.");
                }

                rows[i] = await RowAsync(reader);
            }
        }
        else
        {
            for (var i = 0; i < group.Count; i++)
            {
                await using var command = connection.CreateCommand();
                command.CommandText = ConsentSchema.Sqlite.Read;
                group[i].Bind(command.Parameters, command.CreateParameter);
                await using var reader = await command.ExecuteReaderAsync();
                rows[i] = await RowAsync(reader);
            }
        }

        return rows;
    }

    /// <summary>The one row of a grain's state (PayloadBinary, Version), or none.</summary>
    private static async Task<StoredRow?> RowAsync(DbDataReader reader)
    {
        StoredRow? row = null;
        while (await reader.ReadAsync())
        {
            row ??= new StoredRow(await reader.IsDBNullAsync(0) ? null : (byte[])reader.GetValue(0), Convert.ToInt32(reader.GetValue(1)));
        }

        return row;
    }
}

/// <summary>A grain's state row: its payload (null when none was stored) and version.</summary>
internal sealed record StoredRow(byte[]? Payload, int Version);

/// <summary>One grain's state read, with the parameters Orleans' ADO.NET provider gives its read query.</summary>
internal sealed class ConsentRead(ConsentKey key) : IGroupedStatement<StoredRow?>
{
    private readonly TaskCompletionSource<StoredRow?> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<StoredRow?> Row => _done.Task;

    public void Settle(StoredRow? row) => _done.TrySetResult(row);

    public void Fail(Exception exception) => _done.TrySetException(exception);

    public void Bind(DbParameterCollection parameters, Func<DbParameter> create) => key.Bind(parameters, create);
}
