using System.Data.Common;

namespace ShopAstro.Silo.Storage;

/// <summary>
/// The project's own schema for Orleans' ADO.NET reminder table (Microsoft.Orleans.Reminders.AdoNet): the
/// table <c>ConsentReminders</c> and the <c>OrleansQuery</c> rows the provider loads at start-up. Idempotent:
/// applied at every start, it brings the queries up to date.
/// </summary>
/// <remarks>
/// The provider's contract (10.4.2), by query key:
/// <list type="bullet">
/// <item><c>ReadReminderRowsKey</c> (ServiceId, GrainId) and <c>ReadReminderRowKey</c> (ServiceId, GrainId,
/// ReminderName): rows of GrainId, ReminderName, StartTime, Period (milliseconds), Version.</item>
/// <item><c>ReadRangeRows1Key</c> / <c>ReadRangeRows2Key</c> (ServiceId, BeginHash, EndHash): the same columns
/// for the ring range (BeginHash, EndHash]. The provider passes the unsigned hashes reinterpreted as signed
/// 32-bit integers and picks RangeRows1 when BeginHash &lt; EndHash in that signed order, else RangeRows2 (the
/// wrap-around, also the whole ring when they are equal). Reinterpreting is a rotation of the ring, so signed
/// comparisons on the signed GrainHash column answer the unsigned range exactly.</item>
/// <item><c>UpsertReminderRowKey</c> (ServiceId, GrainId, ReminderName, StartTime, Period as int or bigint,
/// GrainHash): insert or overwrite unconditionally; returns the new Version (the ETag) in a column of that name.</item>
/// <item><c>DeleteReminderRowKey</c> (ServiceId, GrainId, ReminderName, Version = the ETag as an int): deletes only
/// if the version still matches; returns exactly one row of one column, true/non-zero when a row was deleted.</item>
/// <item><c>DeleteReminderRowsKey</c> (ServiceId): deletes every reminder of the service.</item>
/// </list>
/// </remarks>
internal sealed record ReminderSchema(string Ddl, IReadOnlyDictionary<string, string> Queries)
{
    public static ReminderSchema Sqlite { get; } = new(
        Ddl: """
            CREATE TABLE IF NOT EXISTS ConsentReminders (
                ServiceId TEXT NOT NULL,
                GrainId TEXT NOT NULL,
                ReminderName TEXT NOT NULL,
                StartTime TEXT NOT NULL,
                Period INTEGER NOT NULL,
                GrainHash INTEGER NOT NULL,
                Version INTEGER NOT NULL,
                PRIMARY KEY (ServiceId, GrainId, ReminderName)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS IX_ConsentReminders_GrainHash ON ConsentReminders (ServiceId, GrainHash);
            """,
        Queries: BuildQueries(
            beginHash: "@BeginHash", endHash: "@EndHash",
            upsert: """
                INSERT INTO ConsentReminders (ServiceId, GrainId, ReminderName, StartTime, Period, GrainHash, Version)
                VALUES (@ServiceId, @GrainId, @ReminderName, @StartTime, @Period, @GrainHash, 1)
                ON CONFLICT (ServiceId, GrainId, ReminderName) DO UPDATE
                    SET StartTime = excluded.StartTime, Period = excluded.Period, GrainHash = excluded.GrainHash,
                        Version = Version + 1
                RETURNING Version AS Version;
                """,
            // SQLite has no data-modifying CTE: the DELETE yields no result set, the SELECT reports its count.
            delete: """
                DELETE FROM ConsentReminders
                WHERE ServiceId = @ServiceId AND GrainId = @GrainId AND ReminderName = @ReminderName AND Version = @Version;
                SELECT changes() > 0 AS Deleted;
                """));

    public static ReminderSchema PostgreSql { get; } = new(
        Ddl: """
            CREATE TABLE IF NOT EXISTS ConsentReminders (
                ServiceId varchar(150) NOT NULL,
                GrainId varchar(512) NOT NULL,
                ReminderName varchar(150) NOT NULL,
                StartTime timestamptz NOT NULL,
                Period bigint NOT NULL,
                GrainHash integer NOT NULL,
                Version integer NOT NULL,
                CONSTRAINT PK_ConsentReminders PRIMARY KEY (ServiceId, GrainId, ReminderName));
            CREATE INDEX IF NOT EXISTS IX_ConsentReminders_GrainHash ON ConsentReminders (ServiceId, GrainHash);
            """,
        Queries: BuildQueries(
            beginHash: "@BeginHash::integer", endHash: "@EndHash::integer",
            upsert: """
                INSERT INTO ConsentReminders AS r (ServiceId, GrainId, ReminderName, StartTime, Period, GrainHash, Version)
                VALUES (@ServiceId, @GrainId, @ReminderName, @StartTime, @Period::bigint, @GrainHash::integer, 1)
                ON CONFLICT (ServiceId, GrainId, ReminderName) DO UPDATE
                    SET StartTime = excluded.StartTime, Period = excluded.Period, GrainHash = excluded.GrainHash,
                        Version = r.Version + 1
                RETURNING r.Version AS "Version";
                """,
            delete: """
                WITH deleted AS (
                    DELETE FROM ConsentReminders
                    WHERE ServiceId = @ServiceId AND GrainId = @GrainId AND ReminderName = @ReminderName
                      AND Version = @Version::integer
                    RETURNING 1)
                SELECT EXISTS (SELECT 1 FROM deleted) AS "Deleted";
                """));

    public static ReminderSchema For(ConsentStoreKind kind) => kind == ConsentStoreKind.PostgreSql ? PostgreSql : Sqlite;

    /// <summary>Creates the table and upserts every query, inside the caller's transaction.</summary>
    public async Task ApplyAsync(DbConnection connection, DbTransaction transaction, string upsertQuerySql, CancellationToken cancellationToken)
    {
        await ConsentSchema.ExecuteAsync(connection, transaction, Ddl, cancellationToken);
        foreach (var (key, text) in Queries)
        {
            await ConsentSchema.ExecuteAsync(connection, transaction, upsertQuerySql, cancellationToken, ("key", key), ("text", text));
        }
    }

    private static Dictionary<string, string> BuildQueries(
        string beginHash, string endHash, string upsert, string delete)
    {
        // Quoted aliases: PostgreSQL folds unquoted names to lower case; the provider looks columns up by name.
        const string Columns = """
            SELECT GrainId AS "GrainId", ReminderName AS "ReminderName", StartTime AS "StartTime",
                Period AS "Period", Version AS "Version"
            FROM ConsentReminders
            """;
        return new Dictionary<string, string>
        {
            ["ReadReminderRowsKey"] = $"""
                {Columns}
                WHERE ServiceId = @ServiceId AND GrainId = @GrainId;
                """,
            ["ReadReminderRowKey"] = $"""
                {Columns}
                WHERE ServiceId = @ServiceId AND GrainId = @GrainId AND ReminderName = @ReminderName;
                """,
            // (BeginHash, EndHash] with BeginHash < EndHash in signed order.
            ["ReadRangeRows1Key"] = $"""
                {Columns}
                WHERE ServiceId = @ServiceId AND GrainHash > {beginHash} AND GrainHash <= {endHash};
                """,
            // The range wraps around the end of the (signed) ring: everything above BeginHash or up to EndHash.
            ["ReadRangeRows2Key"] = $"""
                {Columns}
                WHERE ServiceId = @ServiceId AND (GrainHash > {beginHash} OR GrainHash <= {endHash});
                """,
            ["UpsertReminderRowKey"] = upsert,
            ["DeleteReminderRowKey"] = delete,
            ["DeleteReminderRowsKey"] = $"DELETE FROM ConsentReminders WHERE ServiceId = @ServiceId;",
        };
    }
}
