using Microsoft.Data.Sqlite;
using Npgsql;

namespace ShopAstro.Tests.Infrastructure;

/// <summary>A consent store for one test fixture: a fresh SQLite file or a fresh PostgreSQL database.</summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private readonly string? _directory;
    private readonly string? _postgresAdmin;
    private readonly string? _postgresName;

    private TestDatabase(string connectionString, string? directory, string? postgresAdmin, string? postgresName)
    {
        ConnectionString = connectionString;
        _directory = directory;
        _postgresAdmin = postgresAdmin;
        _postgresName = postgresName;
    }

    public string ConnectionString { get; }

    public bool IsPostgres => _postgresName is not null;

    public static TestDatabase Sqlite()
    {
        var directory = Path.Combine(Path.GetTempPath(), "shopastro-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        return new TestDatabase($"Data Source={Path.Combine(directory, "consent.db")}", directory, null, null);
    }

    /// <summary>
    /// A new database on the server named by SHOPASTRO_TEST_PG (scripts/test-services.sh provides one).
    /// Without it the test fails: PostgreSQL tests never skip.
    /// </summary>
    public static async Task<TestDatabase> PostgresAsync()
    {
        var admin = Environment.GetEnvironmentVariable("SHOPASTRO_TEST_PG");
        if (string.IsNullOrWhiteSpace(admin))
        {
            throw new InvalidOperationException(
                "SHOPASTRO_TEST_PG is not set. Run the tests with scripts/test.sh, which starts PostgreSQL, or point SHOPASTRO_TEST_PG at a server.");
        }

        var name = "shopastro_" + Guid.NewGuid().ToString("N")[..12];
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await command.ExecuteNonQueryAsync();
        }

        var builder = new NpgsqlConnectionStringBuilder(admin) { Database = name };
        return new TestDatabase(builder.ConnectionString, null, admin, name);
    }

    /// <summary>SQL that makes every update of an existing state row fail, as a full disk or a lost connection would.</summary>
    public string BlockUpdatesSql => IsPostgres
        ? """
            CREATE FUNCTION block_updates() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'writes blocked by the test'; END $$;
            CREATE TRIGGER block_updates BEFORE UPDATE ON ConsentGrainState FOR EACH ROW EXECUTE FUNCTION block_updates();
            """
        : "CREATE TRIGGER block_updates BEFORE UPDATE ON ConsentGrainState BEGIN SELECT RAISE(ABORT, 'writes blocked by the test'); END;";

    public string UnblockUpdatesSql => IsPostgres
        ? "DROP TRIGGER block_updates ON ConsentGrainState; DROP FUNCTION block_updates();"
        : "DROP TRIGGER block_updates;";

    /// <summary>Runs SQL against the store directly, as an operator or an attacker with database access would.</summary>
    public async Task<object?> ExecuteAsync(string sql)
    {
        if (IsPostgres)
        {
            await using var connection = new NpgsqlConnection(ConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(sql, connection);
            return await command.ExecuteScalarAsync();
        }

        await using var sqlite = new SqliteConnection(ConnectionString);
        await sqlite.OpenAsync();
        await using var sqliteCommand = sqlite.CreateCommand();
        sqliteCommand.CommandText = sql;
        return await sqliteCommand.ExecuteScalarAsync();
    }

    /// <summary>The first column of every row <paramref name="sql"/> returns, as text.</summary>
    public async Task<IReadOnlyList<string>> QueryStringsAsync(string sql)
    {
        var values = new List<string>();
        await using var connection = IsPostgres ? (System.Data.Common.DbConnection)new NpgsqlConnection(ConnectionString) : new SqliteConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            values.Add(Convert.ToString(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture) ?? "");
        }

        return values;
    }

    /// <summary>The grain keys (<c>{storeId}/{token}</c>) of a store's receipt archives: one per erasure.</summary>
    public Task<IReadOnlyList<string>> ArchiveKeysAsync(string storeId) => QueryStringsAsync($"""
        SELECT GrainIdExtensionString FROM ConsentGrainState
        WHERE GrainTypeString = 'receiptarchive' AND GrainIdExtensionString LIKE '{storeId}/%'
        ORDER BY ModifiedOn
        """);

    /// <summary>
    /// Every place in the store's tables where <paramref name="text"/> occurs (as UTF-8 bytes in a stored state, or in
    /// a grain key or reminder row): <c>table:grainType=key</c>, as an attacker with database access would find it.
    /// </summary>
    public Task<IReadOnlyList<string>> PlacesNamingAsync(string text)
    {
        var inPayload = IsPostgres
            ? $"position(convert_to('{text}', 'UTF8') in PayloadBinary) > 0"
            : $"instr(PayloadBinary, CAST('{text}' AS BLOB)) > 0";
        return QueryStringsAsync($"""
            SELECT 'state:' || GrainTypeString || '=' || GrainIdExtensionString FROM ConsentGrainState
            WHERE {Position("GrainIdExtensionString", text)} OR {inPayload}
            UNION ALL
            SELECT 'reminder:' || GrainId FROM ConsentReminders WHERE {Position("GrainId", text)}
            """);

        string Position(string column, string value) => IsPostgres ? $"position('{value}' in {column}) > 0" : $"instr({column}, '{value}') > 0";
    }

    public async ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        if (_directory is not null)
        {
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
                // A file still open by a host that is shutting down; the temp folder is cleaned by the OS.
            }
        }

        if (_postgresAdmin is not null)
        {
            NpgsqlConnection.ClearAllPools();
            // Cleanup, not a test: a database still held by a session the role may not end (a server
            // background worker) is left to the throw-away test server rather than failing the test.
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await using var connection = new NpgsqlConnection(_postgresAdmin);
                    await connection.OpenAsync();
                    await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_postgresName} WITH (FORCE)", connection);
                    await command.ExecuteNonQueryAsync();
                    return;
                }
                catch (PostgresException) when (attempt < 5)
                {
                    await Task.Delay(500 * attempt);
                }
                catch (PostgresException)
                {
                    return;
                }
            }
        }
    }
}
