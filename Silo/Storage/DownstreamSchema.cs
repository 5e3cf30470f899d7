using System.Data.Common;

namespace ShopAstro.Silo.Storage;

/// <summary>
/// The downstream systems of each store and the outbox of events for them, in the consent store beside the grain
/// state (so that an event is inserted in the transaction of the state write it reports: see
/// <see cref="ConsentGrainStorage"/>). Times are Unix milliseconds. One outbox row per event and system: its
/// <c>Status</c> is 0 pending, 1 acknowledged, 2 failed for good; the subject id and the body are dropped when a row
/// leaves pending.
/// </summary>
internal sealed record DownstreamSchema(string Ddl)
{
    public const int Pending = 0;
    public const int Acknowledged = 1;
    public const int Failed = 2;

    public static DownstreamSchema Sqlite { get; } = new("""
        CREATE TABLE IF NOT EXISTS DownstreamSystem (
            ServiceId TEXT NOT NULL,
            StoreId TEXT NOT NULL,
            SystemId TEXT NOT NULL,
            Url TEXT NOT NULL,
            Secret TEXT NOT NULL,
            CreatedAt INTEGER NOT NULL,
            PRIMARY KEY (ServiceId, StoreId, SystemId));
        CREATE TABLE IF NOT EXISTS DownstreamOutbox (
            Seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ServiceId TEXT NOT NULL,
            StoreId TEXT NOT NULL,
            SystemId TEXT NOT NULL,
            EventId TEXT NOT NULL,
            EventType TEXT NOT NULL,
            SubjectId TEXT NULL,
            Body TEXT NULL,
            CreatedAt INTEGER NOT NULL,
            Status INTEGER NOT NULL,
            Attempts INTEGER NOT NULL,
            NextAttemptAt INTEGER NOT NULL,
            AckedAt INTEGER NULL,
            FailedAt INTEGER NULL,
            LastError TEXT NULL);
        CREATE INDEX IF NOT EXISTS IX_DownstreamOutbox_Queue ON DownstreamOutbox (ServiceId, StoreId, SystemId, Status, Seq);
        """);

    public static DownstreamSchema PostgreSql { get; } = new("""
        CREATE TABLE IF NOT EXISTS DownstreamSystem (
            ServiceId varchar(150) NOT NULL,
            StoreId varchar(128) NOT NULL,
            SystemId varchar(64) NOT NULL,
            Url text NOT NULL,
            Secret text NOT NULL,
            CreatedAt bigint NOT NULL,
            PRIMARY KEY (ServiceId, StoreId, SystemId));
        CREATE TABLE IF NOT EXISTS DownstreamOutbox (
            Seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            ServiceId varchar(150) NOT NULL,
            StoreId varchar(128) NOT NULL,
            SystemId varchar(64) NOT NULL,
            EventId varchar(64) NOT NULL,
            EventType varchar(32) NOT NULL,
            SubjectId varchar(128) NULL,
            Body text NULL,
            CreatedAt bigint NOT NULL,
            Status smallint NOT NULL,
            Attempts integer NOT NULL,
            NextAttemptAt bigint NOT NULL,
            AckedAt bigint NULL,
            FailedAt bigint NULL,
            LastError text NULL,
            -- A system removed while a write was queueing an event for it takes that row with it: the insert holds a
            -- key-share lock on the system row, so the removal waits for the write and then cascades.
            FOREIGN KEY (ServiceId, StoreId, SystemId) REFERENCES DownstreamSystem ON DELETE CASCADE);
        CREATE INDEX IF NOT EXISTS IX_DownstreamOutbox_Queue ON DownstreamOutbox (ServiceId, StoreId, SystemId, Status, Seq);
        """);

    public static DownstreamSchema For(ConsentStoreKind kind) => kind == ConsentStoreKind.PostgreSql ? PostgreSql : Sqlite;

    /// <summary>One row per registered system of the store, in the caller's transaction; returns the system ids.</summary>
    public const string QueueEvent = """
        INSERT INTO DownstreamOutbox (ServiceId, StoreId, SystemId, EventId, EventType, SubjectId, Body, CreatedAt, Status, Attempts, NextAttemptAt)
        SELECT ServiceId, StoreId, SystemId, @EventId, @EventType, @SubjectId, @Body, @CreatedAt, 0, 0, @CreatedAt
        FROM DownstreamSystem WHERE ServiceId = @ServiceId AND StoreId = @StoreId
        RETURNING SystemId;
        """;

    public Task ApplyAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken) =>
        ConsentSchema.ExecuteAsync(connection, transaction, Ddl, cancellationToken);
}
