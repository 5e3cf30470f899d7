using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace ShopAstro.Silo.Storage;

public enum ConsentStoreKind
{
    Sqlite,
    PostgreSql,
}

/// <summary>
/// The ADO.NET store named by <c>ConnectionStrings:Consent</c>: PostgreSQL for <c>Host=...</c>, otherwise
/// SQLite, by default the file <c>data/consent.db</c> under the working folder.
/// </summary>
public sealed record ConsentStore(ConsentStoreKind Kind, string ConnectionString)
{
    public const string ConnectionStringName = "Consent";
    public const string DefaultSqlitePath = "data/consent.db";

    /// <summary>The invariant names Orleans' ADO.NET provider maps to Npgsql and Microsoft.Data.Sqlite.</summary>
    public string Invariant => Kind == ConsentStoreKind.PostgreSql ? "Npgsql" : "System.Data.SQLite";

    public DbProviderFactory Factory => Kind == ConsentStoreKind.PostgreSql ? NpgsqlFactory.Instance : SqliteFactory.Instance;

    public static ConsentStore FromConfiguration(IConfiguration configuration)
    {
        var configured = configuration.GetConnectionString(ConnectionStringName);
        if (string.IsNullOrWhiteSpace(configured))
        {
            configured = $"Data Source={Path.Combine(Directory.GetCurrentDirectory(), DefaultSqlitePath)}";
        }

        return Parse(configured);
    }

    public static ConsentStore Parse(string connectionString)
    {
        var builder = new DbConnectionStringBuilder { ConnectionString = connectionString };
        if (builder.ContainsKey("Host") || builder.ContainsKey("Server"))
        {
            var postgres = new NpgsqlConnectionStringBuilder(connectionString);
            if (!builder.ContainsKey("Max Auto Prepare") && !builder.ContainsKey("MaxAutoPrepare"))
            {
                // The storage provider sends the same few statements over and over: PostgreSQL parses and plans
                // each once per connection instead of once per call.
                postgres.MaxAutoPrepare = 16;
                postgres.AutoPrepareMinUsages = 2;
            }

            if (!builder.ContainsKey("No Reset On Close") && !builder.ContainsKey("NoResetOnClose"))
            {
                // Every storage call opens a pooled connection, and Npgsql resets a reused one that holds prepared
                // statements with seven statements of its own (RESET ALL, SET SESSION AUTHORIZATION DEFAULT, ...),
                // sent before the call's: 7 of every 8 statements the storage sent under first writes (load-tests/,
                // pg_stat_statements). Nothing here leaves session state behind (no SET, LISTEN, temporary table
                // or session-level advisory lock); an open transaction is still rolled back when a connection closes.
                postgres.NoResetOnClose = true;
            }

            return new ConsentStore(ConsentStoreKind.PostgreSql, postgres.ToString());
        }

        if (!builder.ContainsKey("Data Source") && !builder.ContainsKey("DataSource") && !builder.ContainsKey("Filename"))
        {
            throw new InvalidOperationException(
                "ConnectionStrings:Consent names neither PostgreSQL (Host=...) nor SQLite (Data Source=...).");
        }

        var sqlite = new SqliteConnectionStringBuilder(connectionString);
        if (!builder.ContainsKey("Default Timeout") && !builder.ContainsKey("DefaultTimeout") && !builder.ContainsKey("Command Timeout"))
        {
            // Writers queue for SQLite's single write lock instead of failing with "database is locked".
            sqlite.DefaultTimeout = 30;
        }

        return new ConsentStore(ConsentStoreKind.Sqlite, sqlite.ToString());
    }

    /// <summary>The SQLite file, so that its folder can be created; null for PostgreSQL or in-memory databases.</summary>
    public string? SqliteFile
    {
        get
        {
            if (Kind != ConsentStoreKind.Sqlite)
            {
                return null;
            }

            var source = new SqliteConnectionStringBuilder(ConnectionString).DataSource;
            return string.IsNullOrEmpty(source) || source == ":memory:" ? null : Path.GetFullPath(source);
        }
    }

    /// <summary>
    /// Where the embedded default keeps what it creates for itself (admin token, anonymisation key): beside
    /// the SQLite file, else <c>data/</c> under the working folder.
    /// </summary>
    public string DataFolder => Path.GetDirectoryName(SqliteFile) ?? Path.Combine(Directory.GetCurrentDirectory(), "data");

    public async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = Factory.CreateConnection()!;
        connection.ConnectionString = ConnectionString;
        await connection.OpenAsync(cancellationToken);
        if (connection is SqliteConnection sqlite)
        {
            WaitInSqliteForTheWriteLock(sqlite);
        }

        return connection;
    }

    /// <summary>
    /// A statement that finds SQLite's write lock taken waits in SQLite's own busy handler, for up to the connection's
    /// <c>Default Timeout</c>. Without it, Microsoft.Data.Sqlite retries by itself and sleeps 150 ms between tries,
    /// blocking its thread: a writer behind a lock held for 10 ms waited 151 ms, and about 20 ms with the handler
    /// (load-tests/results/20261207-sqlite-busy-wait.md). Set at every open: one statement, and a connection from the pool
    /// cannot be told from a new one.
    /// </summary>
    private static void WaitInSqliteForTheWriteLock(SqliteConnection connection)
    {
        using var busy = connection.CreateCommand();
        busy.CommandText = FormattableString.Invariant($"PRAGMA busy_timeout = {connection.DefaultTimeout * 1000L}");
        busy.ExecuteNonQuery();
    }
}
