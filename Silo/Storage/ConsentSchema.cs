using System.Data.Common;

namespace ShopAstro.Silo.Storage;

/// <summary>
/// The project's own schema for Orleans' ADO.NET grain storage: the state table with a unique index on
/// the grain key, and the <c>OrleansQuery</c> rows the provider loads at start-up (keys
/// <c>ReadFromStorageKey</c>, <c>WriteToStorageKey</c>, <c>ClearStorageKey</c>). Idempotent: applied at
/// every start, it brings the queries up to date.
/// </summary>
/// <remarks>
/// The provider's contract: parameters GrainIdHash, GrainIdN0, GrainIdN1, GrainTypeHash, GrainTypeString,
/// GrainIdExtensionString, ServiceId, GrainStateVersion (null for a grain that never saw a row) and
/// PayloadBinary. A read returns PayloadBinary and Version; a write returns NewGrainStateVersion; a clear
/// returns the new version in its first column. A write or clear that loses the version race returns the
/// version it was given (or nothing), which the provider turns into an InconsistentStateException.
/// </remarks>
internal sealed record ConsentSchema(string? Prelude, string Ddl, string Read, string Write, string Clear, string UpsertQuery)
{
    private const string GrainKey = """
        ServiceId = @ServiceId AND GrainTypeString = @GrainTypeString
          AND GrainIdN0 = @GrainIdN0 AND GrainIdN1 = @GrainIdN1
          AND GrainIdExtensionString = COALESCE(@GrainIdExtensionString, '')
        """;

    /// <summary>
    /// PostgreSQL's write of one state row, as two common table expressions: <c>updated</c> (the row this grain last
    /// saw, at the version it saw) and <c>inserted</c> (a grain that never saw a row). Never an insert for a grain that
    /// saw a row which is gone (cleared by another activation), which would bring it back. Followed by a SELECT.
    /// </summary>
    private const string PostgreSqlWriteRow = $"""
        WITH updated AS (
            UPDATE ConsentGrainState
            SET PayloadBinary = @PayloadBinary, Version = Version + 1, ModifiedOn = now()
            WHERE {GrainKey} AND @GrainStateVersion::integer IS NOT NULL AND Version = @GrainStateVersion::integer
            RETURNING Version),
        inserted AS (
            INSERT INTO ConsentGrainState (ServiceId, GrainTypeString, GrainIdN0, GrainIdN1, GrainIdExtensionString,
                GrainIdHash, GrainTypeHash, PayloadBinary, Version, ModifiedOn)
            SELECT @ServiceId, @GrainTypeString, @GrainIdN0, @GrainIdN1, COALESCE(@GrainIdExtensionString, ''),
                @GrainIdHash, @GrainTypeHash, @PayloadBinary, 1, now()
            WHERE @GrainStateVersion::integer IS NULL
            ON CONFLICT (ServiceId, GrainTypeString, GrainIdN0, GrainIdN1, GrainIdExtensionString) DO NOTHING
            RETURNING Version)

        """;

    /// <summary>
    /// PostgreSQL's write of a state row with a downstream event, as one statement (so that a batch of writes is one
    /// round trip, see <see cref="GroupCommit"/>): the event's outbox rows (<see cref="DownstreamSchema.QueueEvent"/>)
    /// are inserted only when the row was written. Rows: the new version (or the version given back on a lost race)
    /// with a null SystemId, then one row per system the event was queued for, with a null version.
    /// </summary>
    public const string PostgreSqlWriteQueueingEvent = PostgreSqlWriteRow + """
        , written AS (
            SELECT Version FROM updated
            UNION ALL
            SELECT Version FROM inserted),
        queued AS (
            INSERT INTO DownstreamOutbox (ServiceId, StoreId, SystemId, EventId, EventType, SubjectId, Body, CreatedAt, Status, Attempts, NextAttemptAt)
            SELECT ServiceId, StoreId, SystemId, @EventId, @EventType, @SubjectId, @Body, @CreatedAt, 0, 0, @CreatedAt
            FROM DownstreamSystem WHERE ServiceId = @ServiceId AND StoreId = @StoreId AND EXISTS (SELECT 1 FROM written)
            RETURNING SystemId)
        SELECT Version AS "NewGrainStateVersion", NULL::varchar AS "SystemId" FROM written
        UNION ALL
        SELECT @GrainStateVersion::integer, NULL
        WHERE @GrainStateVersion::integer IS NOT NULL AND NOT EXISTS (SELECT 1 FROM updated)
        UNION ALL
        SELECT NULL, SystemId FROM queued
        """;

    public static ConsentSchema Sqlite { get; } = new(
        // WAL lets checks' reads run beside the writer; it cannot be switched on inside a transaction.
        Prelude: "PRAGMA journal_mode = WAL;",
        Ddl: """
            CREATE TABLE IF NOT EXISTS OrleansQuery (
                QueryKey TEXT NOT NULL PRIMARY KEY,
                QueryText TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS ConsentGrainState (
                ServiceId TEXT NOT NULL,
                GrainTypeString TEXT NOT NULL,
                GrainIdN0 INTEGER NOT NULL,
                GrainIdN1 INTEGER NOT NULL,
                GrainIdExtensionString TEXT NOT NULL,
                GrainIdHash INTEGER NOT NULL,
                GrainTypeHash INTEGER NOT NULL,
                PayloadBinary BLOB NULL,
                Version INTEGER NOT NULL,
                ModifiedOn TEXT NOT NULL);
            CREATE UNIQUE INDEX IF NOT EXISTS UX_ConsentGrainState_GrainKey
                ON ConsentGrainState (ServiceId, GrainTypeString, GrainIdN0, GrainIdN1, GrainIdExtensionString);
            """,
        Read: $"""
            SELECT PayloadBinary, Version FROM ConsentGrainState
            WHERE {GrainKey};
            """,
        // One atomic upsert: a grain that never saw a row inserts one; a grain that saw version N bumps that row.
        // A grain that saw a row which is gone (cleared by another activation) must not bring it back: the
        // insert selects nothing then. changes() = 0 means the version check failed: hand back the version given.
        Write: $"""
            INSERT INTO ConsentGrainState (ServiceId, GrainTypeString, GrainIdN0, GrainIdN1, GrainIdExtensionString,
                GrainIdHash, GrainTypeHash, PayloadBinary, Version, ModifiedOn)
            SELECT @ServiceId, @GrainTypeString, @GrainIdN0, @GrainIdN1, COALESCE(@GrainIdExtensionString, ''),
                @GrainIdHash, @GrainTypeHash, @PayloadBinary, COALESCE(@GrainStateVersion, 0) + 1,
                strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
            WHERE @GrainStateVersion IS NULL OR EXISTS (SELECT 1 FROM ConsentGrainState WHERE {GrainKey})
            ON CONFLICT (ServiceId, GrainTypeString, GrainIdN0, GrainIdN1, GrainIdExtensionString) DO UPDATE
                SET PayloadBinary = excluded.PayloadBinary, Version = Version + 1, ModifiedOn = excluded.ModifiedOn
                WHERE @GrainStateVersion IS NOT NULL AND Version = @GrainStateVersion
            RETURNING Version AS NewGrainStateVersion;
            SELECT @GrainStateVersion AS NewGrainStateVersion WHERE changes() = 0 AND @GrainStateVersion IS NOT NULL;
            """,
        // Clearing deletes the row: erased data is gone, not blanked.
        Clear: $"""
            DELETE FROM ConsentGrainState
            WHERE {GrainKey} AND Version = @GrainStateVersion
            RETURNING Version + 1 AS Version;
            SELECT @GrainStateVersion AS Version WHERE changes() = 0;
            """,
        UpsertQuery: """
            INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES (@key, @text)
            ON CONFLICT (QueryKey) DO UPDATE SET QueryText = excluded.QueryText;
            """);

    public static ConsentSchema PostgreSql { get; } = new(
        Prelude: null,
        Ddl: """
            SELECT pg_advisory_xact_lock(7410355926);
            CREATE TABLE IF NOT EXISTS OrleansQuery (
                QueryKey varchar(64) NOT NULL PRIMARY KEY,
                QueryText text NOT NULL);
            CREATE TABLE IF NOT EXISTS ConsentGrainState (
                ServiceId varchar(150) NOT NULL,
                GrainTypeString varchar(512) NOT NULL,
                GrainIdN0 bigint NOT NULL,
                GrainIdN1 bigint NOT NULL,
                GrainIdExtensionString varchar(512) NOT NULL,
                GrainIdHash integer NOT NULL,
                GrainTypeHash integer NOT NULL,
                PayloadBinary bytea NULL,
                Version integer NOT NULL,
                ModifiedOn timestamptz NOT NULL);
            CREATE UNIQUE INDEX IF NOT EXISTS UX_ConsentGrainState_GrainKey
                ON ConsentGrainState (ServiceId, GrainTypeString, GrainIdN0, GrainIdN1, GrainIdExtensionString);
            """,
        Read: $"""
            SELECT PayloadBinary AS "PayloadBinary", Version AS "Version" FROM ConsentGrainState
            WHERE {GrainKey};
            """,
        Write: PostgreSqlWriteRow + """
            SELECT Version AS "NewGrainStateVersion" FROM updated
            UNION ALL
            SELECT Version FROM inserted
            UNION ALL
            SELECT @GrainStateVersion::integer
            WHERE @GrainStateVersion::integer IS NOT NULL AND NOT EXISTS (SELECT 1 FROM updated);
            """,
        Clear: $"""
            WITH deleted AS (
                DELETE FROM ConsentGrainState
                WHERE {GrainKey} AND Version = @GrainStateVersion::integer
                RETURNING Version + 1 AS Version)
            SELECT Version AS "Version" FROM deleted
            UNION ALL
            SELECT @GrainStateVersion::integer WHERE NOT EXISTS (SELECT 1 FROM deleted);
            """,
        UpsertQuery: """
            INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES (@key, @text)
            ON CONFLICT (QueryKey) DO UPDATE SET QueryText = excluded.QueryText;
            """);

    public static ConsentSchema For(ConsentStoreKind kind) => kind == ConsentStoreKind.PostgreSql ? PostgreSql : Sqlite;

    public async Task ApplyAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        if (Prelude is not null)
        {
            await ExecuteAsync(connection, null, Prelude, cancellationToken);
        }

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await ExecuteAsync(connection, transaction, Ddl, cancellationToken);
        foreach (var (key, text) in new[] { ("ReadFromStorageKey", Read), ("WriteToStorageKey", Write), ("ClearStorageKey", Clear) })
        {
            await ExecuteAsync(connection, transaction, UpsertQuery, cancellationToken, ("key", key), ("text", text));
        }

        // Orleans' reminder table (see ReminderSchema), in the same transaction.
        await (ReferenceEquals(this, PostgreSql) ? ReminderSchema.PostgreSql : ReminderSchema.Sqlite)
            .ApplyAsync(connection, transaction, UpsertQuery, cancellationToken);
        // The statistics history (see StatsHistorySchema) and the downstream systems and outbox (see DownstreamSchema),
        // in the same transaction.
        var kind = ReferenceEquals(this, PostgreSql) ? ConsentStoreKind.PostgreSql : ConsentStoreKind.Sqlite;
        await ExecuteAsync(connection, transaction, StatsHistorySchema.Ddl(kind), cancellationToken);
        await DownstreamSchema.For(kind).ApplyAsync(connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    internal static async Task ExecuteAsync(
        DbConnection connection, DbTransaction? transaction, string sql, CancellationToken cancellationToken,
        params (string Name, string Value)[] parameters)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
