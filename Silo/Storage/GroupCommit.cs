using System.Data.Common;
using System.Globalization;
using Npgsql;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Silo.Storage;

/// <summary>
/// Group commit: the state writes of many grains, made while earlier ones are in flight, go to the store in one
/// transaction (gathered by <see cref="StatementGroups{T, TResult}"/>; on PostgreSQL one round trip for all their statements, and one for the commit), so the store pays its
/// per-statement round trip and its commit once per group instead of once per write.
/// </summary>
/// <remarks>
/// The protocol (docs/coherence.md, "Group commit"), each write keeping what it had when it was a transaction alone:
/// <list type="bullet">
/// <item>G1: a write is settled as stored only after the commit of the transaction holding it.</item>
/// <item>G2: a transaction that fails fails every write in it, none of which is then stored (a failure of the commit
/// itself leaves them all unknown, as it left one write unknown before); the grains deactivate as after any failed write.</item>
/// <item>G3: each write keeps its own version check, so one that lost its race changes nothing and fails alone, and
/// never holds up the others; two writes of the same row (two activations) are ordered in the transaction by key and
/// the second loses.</item>
/// <item>G4: a write's outbox rows are in its transaction and exist exactly when its row was written.</item>
/// <item>G5: a write whose call's deadline passed while it waited is not sent.</item>
/// <item>G6 (PostgreSQL): a write whose row another transaction holds for longer than <see cref="LockWait"/> fails alone,
/// not stored; the others of its group are sent again in a new transaction, none of them having been stored.</item>
/// </list>
/// </remarks>
internal sealed class GroupCommit : IAsyncDisposable
{
    /// <summary>Transactions in flight at once: while they run, the next group gathers.</summary>
    internal const int Lanes = 4;

    /// <summary>
    /// How long a write waits for a row that another transaction holds (G6): far longer than any commit takes, so that it
    /// only cuts short a transaction that is stuck, such as one a stopped silo left open in the middle of its commit.
    /// </summary>
    internal static readonly TimeSpan LockWait = TimeSpan.FromSeconds(1);

    // The batch commands' texts (one statement each, no trailing semicolon), made once rather than for every write.
    private static readonly string SetLockWait =
        $"SELECT set_config('lock_timeout', '{(int)LockWait.TotalMilliseconds}ms', true)";
    private static readonly string PlainWrite = ConsentSchema.PostgreSql.Write.TrimEnd().TrimEnd(';');
    private static readonly string QueueingWrite = ConsentSchema.PostgreSqlWriteQueueingEvent.TrimEnd().TrimEnd(';');

    private readonly ConsentStore _store;
    private readonly TimeProvider _time;
    private readonly StatementGroups<ConsentWrite, ConsentWriteOutcome> _groups;

    public GroupCommit(ConsentStore store, TimeProvider time)
        : this(store, time, Lanes)
    {
    }

    /// <summary>With <paramref name="lanes"/> 0 nothing is sent but what a test hands to <see cref="SendAsync"/>.</summary>
    internal GroupCommit(ConsentStore store, TimeProvider time, int lanes)
    {
        _store = store;
        _time = time;
        // One order for every transaction: two writes of the same rows in two lanes cannot deadlock (G3).
        _groups = new StatementGroups<ConsentWrite, ConsentWriteOutcome>(
            lanes, CommitAsync, Late, static (a, b) => ConsentKey.Compare(a.Key, b.Key));
    }

    /// <summary>Transactions committed or failed so far, and the writes they held (for tests and diagnostics).</summary>
    internal (long Groups, long Writes) Sent => _groups.Sent;

    public Task<ConsentWriteOutcome> WriteAsync(ConsentWrite write)
    {
        _groups.Queue(write, static () => new StorageUnavailableException("The consent store is shutting down."));
        return write.Outcome;
    }

    public ValueTask DisposeAsync() => _groups.DisposeAsync();

    /// <summary>One group in one transaction; every write in it is settled or failed when this returns.</summary>
    internal Task SendAsync(List<ConsentWrite> group) => _groups.SendAsync(group);

    /// <summary>G5: a write whose call's deadline has passed is not sent.</summary>
    private Exception? Late(ConsentWrite write) =>
        write.Deadline is { } deadline && _time.GetUtcNow() >= deadline
            ? new StorageUnavailableException(
                $"Not stored: its call's deadline ({deadline.ToString("O", CultureInfo.InvariantCulture)}) passed while the write waited for the store.")
            : null;

    /// <summary>
    /// The writes of one group in one transaction, committed before their outcomes are returned (G1, G2). On PostgreSQL,
    /// a write whose row stayed locked is failed here and the rest sent again (G6); its place in the results is not used.
    /// </summary>
    private async Task<ConsentWriteOutcome[]> CommitAsync(List<ConsentWrite> due)
    {
        var sending = due;
        while (true)
        {
            try
            {
                var committed = await CommitOnceAsync(sending);
                return ReferenceEquals(sending, due) ? committed : InGroupOrder(due, sending, committed);
            }
            catch (RowLockedException locked) when (sending.Count > 1)
            {
                // The transaction was rolled back: none of the group is stored. The locked write fails alone; the others go
                // again, each still within its deadline (G5).
                var rest = new List<ConsentWrite>(sending.Count - 1);
                for (var k = 0; k < sending.Count; k++)
                {
                    if (k == locked.Index)
                    {
                        sending[k].Fail(locked);
                    }
                    else if (Late(sending[k]) is { } late)
                    {
                        sending[k].Fail(late);
                    }
                    else
                    {
                        rest.Add(sending[k]);
                    }
                }

                if (rest.Count == 0)
                {
                    return new ConsentWriteOutcome[due.Count];
                }

                sending = rest;
            }
        }
    }

    /// <summary>The outcomes of the writes sent again after a locked one, at their places in the group (the failed ones' stay empty).</summary>
    private static ConsentWriteOutcome[] InGroupOrder(List<ConsentWrite> due, List<ConsentWrite> sent, ConsentWriteOutcome[] committed)
    {
        var outcomes = new ConsentWriteOutcome[due.Count];
        for (var k = 0; k < sent.Count; k++)
        {
            outcomes[due.IndexOf(sent[k])] = committed[k];
        }

        return outcomes;
    }

    private async Task<ConsentWriteOutcome[]> CommitOnceAsync(List<ConsentWrite> due)
    {
        await using var connection = await _store.OpenAsync(CancellationToken.None);
        await using var transaction = await connection.BeginTransactionAsync();
        var outcomes = _store.Kind == ConsentStoreKind.PostgreSql
            ? await RunBatchedAsync(connection, transaction, due)
            : await RunInTurnAsync(connection, transaction, due);
        await transaction.CommitAsync();
        return outcomes;
    }

    /// <summary>PostgreSQL: every write one statement (with its event, <see cref="ConsentSchema.PostgreSqlWriteQueueingEvent"/>), all in one round trip.</summary>
    private static async Task<ConsentWriteOutcome[]> RunBatchedAsync(DbConnection connection, DbTransaction transaction, List<ConsentWrite> due)
    {
        await using var batch = connection.CreateBatch();
        batch.Transaction = transaction;
        var lockWait = batch.CreateBatchCommand();
        lockWait.CommandText = SetLockWait;
        batch.BatchCommands.Add(lockWait);
        foreach (var write in due)
        {
            var command = batch.CreateBatchCommand();
            command.CommandText = write.Event is null ? PlainWrite : QueueingWrite;
            write.Bind(command.Parameters, command.CreateParameter);
            if (write.Event is not null)
            {
                write.BindEvent(command.Parameters, command.CreateParameter, withServiceId: false);
            }

            batch.BatchCommands.Add(command);
        }

        var outcomes = new ConsentWriteOutcome[due.Count];
        // The write whose result is being read: PostgreSQL reports a statement's error when the reader reaches its result.
        var reached = -1;
        try
        {
            await using var reader = await batch.ExecuteReaderAsync();
            for (var i = 0; i < due.Count; i++)
            {
                // The first result is the lock wait's.
                reached = i;
                if (!await reader.NextResultAsync())
                {
                    throw new InvalidOperationException($"The store answered {i} of {due.Count} writes.");
                }

                var (returned, queued) = await ReturnedAsync(reader);
                outcomes[i] = due[i].Judge(returned, queued);
            }
        }
        catch (PostgresException exception) when (exception.SqlState == PostgresErrorCodes.LockNotAvailable && reached >= 0)
        {
            throw new RowLockedException(reached, exception);
        }

        return outcomes;
    }

    /// <summary>What one write's statement returned: the row's new version (if it was written) and the systems its event was queued for.</summary>
    private static async Task<(string? Returned, IReadOnlyList<string> Queued)> ReturnedAsync(DbDataReader reader)
    {
        string? returned = null;
        List<string>? queued = null;
        while (await reader.ReadAsync())
        {
            if (!await reader.IsDBNullAsync(0))
            {
                returned ??= Convert.ToString(reader.GetValue(0), CultureInfo.InvariantCulture);
            }
            else if (reader.FieldCount > 1 && !await reader.IsDBNullAsync(1))
            {
                (queued ??= []).Add(reader.GetString(1));
            }
        }

        return (returned, queued ?? (IReadOnlyList<string>)[]);
    }

    /// <summary>SQLite (no batches): the writes one after the other in the transaction, each event after its write.</summary>
    private static async Task<ConsentWriteOutcome[]> RunInTurnAsync(DbConnection connection, DbTransaction transaction, List<ConsentWrite> due)
    {
        var outcomes = new ConsentWriteOutcome[due.Count];
        for (var i = 0; i < due.Count; i++)
        {
            var write = due[i];
            string? returned;
            await using (var command = connection.CreateCommand())
            {
                command.Transaction = transaction;
                command.CommandText = ConsentSchema.Sqlite.Write;
                write.Bind(command.Parameters, command.CreateParameter);
                returned = await FirstValueAsync(command);
            }

            var outcome = write.Judge(returned, []);
            if (!outcome.Lost && write.Event is not null)
            {
                var queued = new List<string>();
                await using var queue = connection.CreateCommand();
                queue.Transaction = transaction;
                queue.CommandText = DownstreamSchema.QueueEvent;
                write.BindEvent(queue.Parameters, queue.CreateParameter, withServiceId: true);
                await using (var reader = await queue.ExecuteReaderAsync())
                {
                    while (await reader.ReadAsync())
                    {
                        queued.Add(reader.GetString(0));
                    }
                }

                outcome = outcome with { QueuedFor = queued };
            }

            outcomes[i] = outcome;
        }

        return outcomes;
    }

    /// <summary>The first non-null value of the first column over every result set (the SQLite write has two statements).</summary>
    private static async Task<string?> FirstValueAsync(DbCommand command)
    {
        string? value = null;
        await using var reader = await command.ExecuteReaderAsync();
        do
        {
            while (await reader.ReadAsync())
            {
                if (value is null && !await reader.IsDBNullAsync(0))
                {
                    value = Convert.ToString(reader.GetValue(0), CultureInfo.InvariantCulture);
                }
            }
        }
        while (await reader.NextResultAsync());

        return value;
    }
}

/// <summary>A write's row stayed locked by another transaction past <see cref="GroupCommit.LockWait"/>; its transaction was rolled back.</summary>
internal sealed class RowLockedException(int index, PostgresException inner)
    : Exception("Not stored: another transaction held the row past the lock wait.", inner)
{
    /// <summary>The write's place in its group.</summary>
    public int Index { get; } = index;
}
