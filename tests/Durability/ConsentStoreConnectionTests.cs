using Npgsql;
using ShopAstro.Silo.Storage;
using ShopAstro.Tests.Infrastructure;
using Xunit;

namespace ShopAstro.Tests.Durability;

/// <summary>
/// How the consent store connects to PostgreSQL: pooled connections keep their prepared statements and are not reset
/// when they go back to the pool (seven statements per storage call, half of PostgreSQL's under first writes), which is
/// safe only because nothing leaves session state and an unfinished transaction still ends when its connection closes.
/// And how it connects to SQLite: a writer behind the write lock waits in SQLite's busy handler.
/// </summary>
public sealed class ConsentStoreConnectionTests : IAsyncLifetime
{
    private TestDatabase _database = null!;

    public async Task InitializeAsync() => _database = await TestDatabase.PostgresAsync();

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public void PostgreSQL_connections_are_tuned_unless_the_connection_string_says_otherwise()
    {
        var tuned = new NpgsqlConnectionStringBuilder(ConsentStore.Parse("Host=db;Database=consent").ConnectionString);
        Assert.Equal(16, tuned.MaxAutoPrepare);
        Assert.Equal(2, tuned.AutoPrepareMinUsages);
        Assert.True(tuned.NoResetOnClose);

        var asked = new NpgsqlConnectionStringBuilder(
            ConsentStore.Parse("Host=db;Database=consent;No Reset On Close=false;Max Auto Prepare=0").ConnectionString);
        Assert.False(asked.NoResetOnClose);
        Assert.Equal(0, asked.MaxAutoPrepare);
    }

    [Fact]
    public async Task A_pooled_connection_is_handed_back_without_a_reset_but_never_inside_a_transaction()
    {
        var store = ConsentStore.Parse(new NpgsqlConnectionStringBuilder(_database.ConnectionString) { MaxPoolSize = 1 }.ConnectionString);
        await _database.ExecuteAsync("CREATE TABLE pooled (k int PRIMARY KEY)");

        await using (var first = await store.OpenAsync(CancellationToken.None))
        {
            await Execute(first, "SET application_name = 'left behind'");
            await using var transaction = await first.BeginTransactionAsync();
            await Execute(first, "INSERT INTO pooled VALUES (1)");
            // Closed with the transaction neither committed nor rolled back.
        }

        await using var second = await store.OpenAsync(CancellationToken.None);
        // The same server session (a pool of one), not reset: what a session setting would leak.
        Assert.Equal("left behind", await Scalar(second, "SELECT current_setting('application_name')"));
        // The unfinished transaction was rolled back: its row is not seen by its own session, and each statement now
        // runs in a transaction of its own (autocommit), so two reads of the transaction id differ.
        Assert.Equal(0L, await Scalar(second, "SELECT count(*) FROM pooled"));
        Assert.NotEqual(await Scalar(second, "SELECT txid_current()"), await Scalar(second, "SELECT txid_current()"));
    }

    /// <summary>
    /// A SQLite writer that finds the write lock taken waits in SQLite's busy handler for the connection's Default
    /// Timeout, not in Microsoft.Data.Sqlite's own retry, which sleeps 150 ms a try (ConsentStore.OpenAsync).
    /// </summary>
    [Theory]
    [InlineData("", 30_000L)]
    [InlineData(";Default Timeout=5", 5_000L)]
    public async Task SQLite_connections_wait_for_the_write_lock_in_SQLites_busy_handler(string options, long expected)
    {
        var file = Path.Combine(Path.GetTempPath(), $"busy-{Guid.NewGuid():N}.db");
        try
        {
            var store = ConsentStore.Parse($"Data Source={file}{options}");
            await using (var connection = await store.OpenAsync(CancellationToken.None))
            {
                Assert.Equal(expected, await Scalar(connection, "PRAGMA busy_timeout"));
            }

            // Again from the pool.
            await using var pooled = await store.OpenAsync(CancellationToken.None);
            Assert.Equal(expected, await Scalar(pooled, "PRAGMA busy_timeout"));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            File.Delete(file);
        }
    }

    private static async Task Execute(System.Data.Common.DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<object?> Scalar(System.Data.Common.DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        var value = await command.ExecuteScalarAsync();
        return value is DBNull ? null : value;
    }
}
