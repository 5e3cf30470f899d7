using System.Diagnostics;
using System.Text;
using Npgsql;
using ShopAstro.Grains.Downstream;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Silo.Storage;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Durability;

/// <summary>
/// Group commit (Silo/Storage/GroupCommit.cs): writes of many grains share transactions (and reads, GroupRead.cs, round trips), and each keeps what it had
/// alone: stored only with its transaction (G1, G2), its own version check (G3), its outbox rows exactly when its row
/// was written (G4), nothing sent past its deadline (G5), and on PostgreSQL a row held by another transaction holds up
/// only its own write (G6). On SQLite and on PostgreSQL, against the project's schema.
/// </summary>
public abstract class GroupCommitTests : IAsyncLifetime
{
    private const string ServiceId = "group-commit-tests";
    private TestDatabase _database = null!;
    private ConsentStore _store = null!;

    protected abstract Task<TestDatabase> CreateDatabaseAsync();

    protected TestDatabase Database => _database;

    private protected ConsentStore Store => _store;


    public async Task InitializeAsync()
    {
        _database = await CreateDatabaseAsync();
        _store = ConsentStore.Parse(_database.ConnectionString);
        await using var connection = await _store.OpenAsync(CancellationToken.None);
        await ConsentSchema.For(_store.Kind).ApplyAsync(connection, CancellationToken.None);
    }

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task Concurrent_writes_of_many_grains_share_transactions_and_are_all_stored()
    {
        await using var commits = new GroupCommit(_store, TimeProvider.System);
        var writes = Enumerable.Range(0, 200).Select(i => Write($"s1/u{i}", null)).ToArray();

        var outcomes = await Task.WhenAll(writes.Select(commits.WriteAsync));

        Assert.All(outcomes, outcome => Assert.Equal("1", outcome.NewVersion));
        Assert.Equal(200L, await CountAsync("SELECT COUNT(*) FROM ConsentGrainState"));
        var (groups, sent) = commits.Sent;
        Assert.Equal(200, sent);
        Assert.True(groups <= sent / 2, $"{sent} writes went in {groups} transactions: not grouped");
    }

    [Fact]
    public async Task Concurrent_reads_of_many_grains_share_round_trips_and_each_gets_its_own_row()
    {
        await using var commits = new GroupCommit(_store, TimeProvider.System);
        await Task.WhenAll(Enumerable.Range(0, 100).Select(i => commits.WriteAsync(Write($"s1/u{i}", null, $"state {i}"))));
        await using var reads = new GroupRead(_store);

        var rows = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => reads.ReadAsync(new ConsentRead(Key($"s1/u{i}")))));

        for (var i = 0; i < 200; i++)
        {
            Assert.Equal(i < 100 ? $"state {i}" : null, rows[i]?.Payload is { } payload ? Encoding.UTF8.GetString(payload) : null);
            Assert.Equal(i < 100 ? 1 : null, rows[i]?.Version);
        }

        var (groups, sent) = reads.Sent;
        Assert.Equal(200, sent);
        Assert.True(groups <= sent / 2, $"{sent} reads went in {groups} round trips: not grouped");
    }

    [Fact]
    public async Task A_write_that_lost_its_version_race_fails_alone_and_changes_nothing()
    {
        await using var commits = new GroupCommit(_store, TimeProvider.System, lanes: 0);
        await commits.SendAsync([Write("s1/u0", null, "first")]);

        var stale = Write("s1/u0", 7, "stale");
        var fresh = Enumerable.Range(1, 5).Select(i => Write($"s1/u{i}", null)).ToList();
        var current = Write("s1/u0", 1, "second");
        await commits.SendAsync([stale, .. fresh]);

        Assert.True((await stale.Outcome).Lost);
        Assert.All(await Task.WhenAll(fresh.Select(w => w.Outcome)), outcome => Assert.Equal("1", outcome.NewVersion));
        Assert.Equal("first", await PayloadAsync("s1/u0"));

        await commits.SendAsync([current]);
        Assert.Equal("2", (await current.Outcome).NewVersion);
        Assert.Equal("second", await PayloadAsync("s1/u0"));
    }

    [Fact]
    public async Task Two_writes_of_one_row_in_one_group_store_one_and_the_other_loses()
    {
        await using var commits = new GroupCommit(_store, TimeProvider.System, lanes: 0);
        var a = Write("s1/u0", null, "a");
        var b = Write("s1/u0", null, "b");

        await commits.SendAsync([a, b]);

        var outcomes = new[] { await a.Outcome, await b.Outcome };
        Assert.Single(outcomes, o => o.Lost);
        Assert.Single(outcomes, o => o.NewVersion == "1");
        Assert.Equal(outcomes[0].Lost ? "b" : "a", await PayloadAsync("s1/u0"));
    }

    [Fact]
    public async Task A_failed_transaction_stores_none_of_its_writes()
    {
        await using var commits = new GroupCommit(_store, TimeProvider.System, lanes: 0);
        await commits.SendAsync([Write("s1/u0", null, "first")]);
        await _database.ExecuteAsync(_database.BlockUpdatesSql);

        var group = new List<ConsentWrite> { Write("s1/u0", 1, "second") };
        group.AddRange(Enumerable.Range(1, 5).Select(i => Write($"s1/u{i}", null)));
        await commits.SendAsync(group);

        foreach (var write in group)
        {
            await Assert.ThrowsAnyAsync<Exception>(() => write.Outcome);
        }

        Assert.Equal(1L, await CountAsync("SELECT COUNT(*) FROM ConsentGrainState"));
        Assert.Equal("first", await PayloadAsync("s1/u0"));
    }

    [Fact]
    public async Task A_write_whose_deadline_passed_while_it_waited_is_not_sent()
    {
        await using var commits = new GroupCommit(_store, TimeProvider.System, lanes: 0);
        var late = Write("s1/late", null, deadline: DateTimeOffset.UtcNow - TimeSpan.FromMilliseconds(1));
        var inTime = Write("s1/in-time", null, deadline: DateTimeOffset.UtcNow + TimeSpan.FromSeconds(30));

        await commits.SendAsync([late, inTime]);

        var refused = await Assert.ThrowsAsync<StorageUnavailableException>(() => late.Outcome);
        Assert.Contains("deadline", refused.Message);
        Assert.Equal("1", (await inTime.Outcome).NewVersion);
        Assert.Null(await PayloadAsync("s1/late"));
        Assert.Equal(1L, await CountAsync("SELECT COUNT(*) FROM ConsentGrainState"));
    }

    [Fact]
    public async Task Outbox_rows_are_inserted_exactly_for_the_writes_that_were_stored()
    {
        await _database.ExecuteAsync($"""
            INSERT INTO DownstreamSystem (ServiceId, StoreId, SystemId, Url, Secret, CreatedAt)
            VALUES ('{ServiceId}', 's1', 'crm', 'http://127.0.0.1:1/', 'secret', 0), ('{ServiceId}', 's1', 'ads', 'http://127.0.0.1:1/', 'secret', 0)
            """);
        await using var commits = new GroupCommit(_store, TimeProvider.System, lanes: 0);
        await commits.SendAsync([Write("s1/u0", null)]);

        var stored = Write("s1/u1", null, outgoing: Event("e-stored", "u1"));
        var lost = Write("s1/u0", 5, outgoing: Event("e-lost", "u0"));
        var plain = Write("s1/u2", null);
        await commits.SendAsync([stored, lost, plain]);

        Assert.Equal(["ads", "crm"], (await stored.Outcome).QueuedFor.Order());
        Assert.True((await lost.Outcome).Lost);
        Assert.Empty((await plain.Outcome).QueuedFor);
        Assert.Equal(2L, await CountAsync("SELECT COUNT(*) FROM DownstreamOutbox WHERE EventId = 'e-stored'"));
        Assert.Equal(0L, await CountAsync("SELECT COUNT(*) FROM DownstreamOutbox WHERE EventId = 'e-lost'"));
    }

    private static OutboxEvent Event(string id, string subject) =>
        new(id, DownstreamEvents.Withdrawal, "s1", subject, DateTimeOffset.UtcNow, "{}");

    private static ConsentKey Key(string key) => new(ServiceId, "subject", 0, 0, key, key.GetHashCode(), 1);

    private protected static ConsentWrite Write(string key, int? version, string payload = "state", OutboxEvent? outgoing = null, DateTimeOffset? deadline = null) =>
        new(Key(key), version, Encoding.UTF8.GetBytes(payload), outgoing, deadline);

    private async Task<long> CountAsync(string sql) => Convert.ToInt64(await _database.ExecuteAsync(sql));

    protected async Task<string?> PayloadAsync(string key) =>
        await _database.ExecuteAsync($"SELECT PayloadBinary FROM ConsentGrainState WHERE GrainIdExtensionString = '{key}'") is byte[] bytes
            ? Encoding.UTF8.GetString(bytes)
            : null;
}

public sealed class SqliteGroupCommitTests : GroupCommitTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult(TestDatabase.Sqlite());
}

public sealed class PostgresGroupCommitTests : GroupCommitTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => TestDatabase.PostgresAsync();

    /// <summary>
    /// G6: a transaction left open holding a row (a silo stopped in the middle of its commit) holds up only the writes of
    /// that row, after the lock wait; the rest of their group is stored meanwhile.
    /// </summary>
    [Fact]
    public async Task A_write_whose_row_another_transaction_holds_fails_alone_after_the_lock_wait_and_the_rest_of_its_group_is_stored()
    {
        await using var commits = new GroupCommit(Store, TimeProvider.System, lanes: 0);
        await commits.SendAsync([Write("s1/u3", null, "first")]);
        await using var stuck = new NpgsqlConnection(Database.ConnectionString);
        await stuck.OpenAsync();
        await using var holding = await stuck.BeginTransactionAsync();
        await using (var hold = new NpgsqlCommand("UPDATE ConsentGrainState SET Version = Version WHERE GrainIdExtensionString = 's1/u3'", stuck, holding))
        {
            Assert.Equal(1, await hold.ExecuteNonQueryAsync());
        }

        // In key order the locked write comes fourth: the three before it were written in the transaction that failed.
        var locked = Write("s1/u3", 1, "second");
        var others = new[] { 0, 1, 2, 4, 5 }.Select(i => Write($"s1/u{i}", null)).ToList();
        var watch = Stopwatch.StartNew();
        var sent = commits.SendAsync([locked, .. others]);

        // While the other transaction still holds the row.
        var outcomes = await Task.WhenAll(others.Select(w => w.Outcome)).WaitAsync(TimeSpan.FromSeconds(15));
        Assert.All(outcomes, outcome => Assert.Equal("1", outcome.NewVersion));
        var refused = await Assert.ThrowsAsync<RowLockedException>(() => locked.Outcome);
        Assert.Equal(PostgresErrorCodes.LockNotAvailable, ((PostgresException)refused.InnerException!).SqlState);
        Assert.True(watch.Elapsed >= GroupCommit.LockWait, $"the locked write failed after {watch.Elapsed}, before the lock wait");
        await sent;

        await holding.RollbackAsync();
        Assert.Equal("first", await PayloadAsync("s1/u3"));
        Assert.Equal(6L, Convert.ToInt64(await Database.ExecuteAsync("SELECT COUNT(*) FROM ConsentGrainState")));
    }
}
