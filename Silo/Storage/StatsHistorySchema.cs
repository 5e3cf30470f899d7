namespace ShopAstro.Silo.Storage;

/// <summary>
/// The statistics history table: one row per store, purpose and snapshot time (milliseconds since the Unix epoch,
/// UTC), with the store's counters at that time. Applied with the rest of the schema at every start.
/// </summary>
internal static class StatsHistorySchema
{
    public static string Ddl(ConsentStoreKind kind) => kind == ConsentStoreKind.PostgreSql
        ? """
            CREATE TABLE IF NOT EXISTS ConsentStatsHistory (
                ServiceId varchar(150) NOT NULL,
                StoreId varchar(128) NOT NULL,
                Purpose integer NOT NULL,
                At bigint NOT NULL,
                Checks bigint NOT NULL,
                Allowed bigint NOT NULL,
                Grants bigint NOT NULL,
                Withdrawals bigint NOT NULL,
                Granted bigint NOT NULL,
                Withdrawn bigint NOT NULL,
                CONSTRAINT PK_ConsentStatsHistory PRIMARY KEY (ServiceId, StoreId, Purpose, At));
            CREATE INDEX IF NOT EXISTS IX_ConsentStatsHistory_At ON ConsentStatsHistory (ServiceId, At);
            """
        : """
            CREATE TABLE IF NOT EXISTS ConsentStatsHistory (
                ServiceId TEXT NOT NULL,
                StoreId TEXT NOT NULL,
                Purpose INTEGER NOT NULL,
                At INTEGER NOT NULL,
                Checks INTEGER NOT NULL,
                Allowed INTEGER NOT NULL,
                Grants INTEGER NOT NULL,
                Withdrawals INTEGER NOT NULL,
                Granted INTEGER NOT NULL,
                Withdrawn INTEGER NOT NULL,
                PRIMARY KEY (ServiceId, StoreId, Purpose, At)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS IX_ConsentStatsHistory_At ON ConsentStatsHistory (ServiceId, At);
            """;

    // The same statements serve both: plain SQL, integer columns, ON CONFLICT of both dialects.
    public const string Insert = """
        INSERT INTO ConsentStatsHistory (ServiceId, StoreId, Purpose, At, Checks, Allowed, Grants, Withdrawals, Granted, Withdrawn)
        VALUES (@ServiceId, @StoreId, @Purpose, @At, @Checks, @Allowed, @Grants, @Withdrawals, @Granted, @Withdrawn)
        ON CONFLICT (ServiceId, StoreId, Purpose, At) DO NOTHING
        """;

    private const string Columns = "h.At, h.Purpose, h.Checks, h.Allowed, h.Grants, h.Withdrawals, h.Granted, h.Withdrawn";

    public const string Range = $"""
        SELECT {Columns} FROM ConsentStatsHistory h
        WHERE h.ServiceId = @ServiceId AND h.StoreId = @StoreId AND h.At >= @From AND h.At < @To
        ORDER BY h.At, h.Purpose
        """;

    /// <summary>The newest row of each purpose before @From.</summary>
    public const string Previous = $"""
        SELECT {Columns} FROM ConsentStatsHistory h
        WHERE h.ServiceId = @ServiceId AND h.StoreId = @StoreId
          AND h.At = (SELECT MAX(p.At) FROM ConsentStatsHistory p
                      WHERE p.ServiceId = h.ServiceId AND p.StoreId = h.StoreId AND p.Purpose = h.Purpose AND p.At < @From)
        ORDER BY h.At, h.Purpose
        """;

    /// <summary>Rows before @Cutoff, except the newest before it of each store and purpose (the next day's baseline).</summary>
    public const string Purge = """
        DELETE FROM ConsentStatsHistory
        WHERE ServiceId = @ServiceId AND At < @Cutoff
          AND At < (SELECT MAX(k.At) FROM ConsentStatsHistory k
                    WHERE k.ServiceId = ConsentStatsHistory.ServiceId AND k.StoreId = ConsentStatsHistory.StoreId
                      AND k.Purpose = ConsentStatsHistory.Purpose AND k.At < @Cutoff)
        """;
}
