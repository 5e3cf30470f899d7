using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Orleans.Runtime;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Durability;

/// <summary>
/// Orleans' reminder table over the project's own schema (ReminderSchema), through the public
/// <see cref="IReminderTable"/> of a running silo: ETags, the version check on removal, reads by grain and by
/// hash range (including ranges that wrap around the ring), and survival of the host. Run on SQLite and PostgreSQL.
/// </summary>
public abstract class ReminderStorageTests : IAsyncLifetime
{
    private const string GrainType = "reminder-storage-test";
    private static readonly DateTime StartAt = new(2100, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc);

    private TestDatabase _database = null!;

    protected abstract Task<TestDatabase> CreateDatabaseAsync();

    public async Task InitializeAsync() => _database = await CreateDatabaseAsync();

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task An_entry_is_written_read_updated_and_removed_with_its_etag()
    {
        await using var factory = NewFactory();
        var table = await StartedTableAsync(factory);
        var grain = GrainId.Create(GrainType, "g1");

        Assert.Null(await table.ReadRow(grain, "r1"));
        var etag = await table.UpsertRow(Entry(grain, "r1", TimeSpan.FromMinutes(5)));
        Assert.NotNull(etag);
        Assert.NotEqual("", etag);

        var row = await table.ReadRow(grain, "r1");
        Assert.NotNull(row);
        Assert.Equal(grain, row.GrainId);
        Assert.Equal("r1", row.ReminderName);
        Assert.Equal(StartAt, row.StartAt.ToUniversalTimeAssumingUtc());
        Assert.Equal(TimeSpan.FromMinutes(5), row.Period);
        Assert.Equal(etag, row.ETag);

        var byGrain = await table.ReadRows(grain);
        Assert.Equal(["r1"], byGrain.Reminders.Select(r => r.ReminderName));

        // An update overwrites and hands out a new ETag; the old one no longer removes the row.
        var etag2 = await table.UpsertRow(Entry(grain, "r1", TimeSpan.FromMinutes(7)));
        Assert.NotNull(etag2);
        Assert.NotEqual(etag, etag2);
        var updated = await table.ReadRow(grain, "r1");
        Assert.Equal(TimeSpan.FromMinutes(7), updated!.Period);
        Assert.Equal(etag2, updated.ETag);

        Assert.False(await table.RemoveRow(grain, "r1", etag));
        Assert.NotNull(await table.ReadRow(grain, "r1"));
        Assert.False(await table.RemoveRow(grain, "no-such-reminder", etag2));

        Assert.True(await table.RemoveRow(grain, "r1", etag2));
        Assert.Null(await table.ReadRow(grain, "r1"));
        Assert.Empty((await table.ReadRows(grain)).Reminders);
        Assert.False(await table.RemoveRow(grain, "r1", etag2));
    }

    [Fact]
    public async Task Rows_of_one_grain_are_read_together_and_periods_beyond_int_milliseconds_survive()
    {
        await using var factory = NewFactory();
        var table = await StartedTableAsync(factory);
        var grain = GrainId.Create(GrainType, "g-many");
        var other = GrainId.Create(GrainType, "g-other");
        var longPeriod = TimeSpan.FromDays(60); // 5,184,000,000 ms: the provider passes it as a bigint

        await table.UpsertRow(Entry(grain, "a", TimeSpan.FromMinutes(1)));
        await table.UpsertRow(Entry(grain, "b", longPeriod));
        await table.UpsertRow(Entry(other, "a", TimeSpan.FromMinutes(1)));

        var rows = (await table.ReadRows(grain)).Reminders.OrderBy(r => r.ReminderName).ToList();
        Assert.Equal(["a", "b"], rows.Select(r => r.ReminderName));
        Assert.All(rows, r => Assert.Equal(grain, r.GrainId));
        Assert.Equal(longPeriod, rows[1].Period);
    }

    [Fact]
    public async Task Range_reads_follow_the_unsigned_ring_including_wrap_around()
    {
        await using var factory = NewFactory();
        var table = await StartedTableAsync(factory);

        // Grains on both halves of the ring: below 2^31 (non-negative when stored signed) and above (negative).
        var grains = new List<GrainId>();
        for (var i = 0; grains.Count(g => g.GetUniformHashCode() < 0x8000_0000u) < 3
                        || grains.Count(g => g.GetUniformHashCode() >= 0x8000_0000u) < 3; i++)
        {
            var grain = GrainId.Create(GrainType, $"ring-{i}");
            var hash = grain.GetUniformHashCode();
            if (hash is 0 or uint.MaxValue)
            {
                continue;
            }

            grains.Add(grain);
            await table.UpsertRow(Entry(grain, "tick", TimeSpan.FromHours(1)));
        }

        var low = grains.First(g => g.GetUniformHashCode() < 0x8000_0000u);
        var high = grains.First(g => g.GetUniformHashCode() >= 0x8000_0000u);
        foreach (var grain in new[] { low, high })
        {
            var hash = grain.GetUniformHashCode();
            // A range that contains the hash (its upper bound is inclusive) and ones that do not.
            Assert.Contains(grain, await RangeAsync(table, unchecked(hash - 1), hash));
            Assert.DoesNotContain(grain, await RangeAsync(table, hash, unchecked(hash + 1)));
            Assert.DoesNotContain(grain, await RangeAsync(table, unchecked(hash - 2), unchecked(hash - 1)));
            // The whole ring but the sliver just above the hash.
            Assert.Contains(grain, await RangeAsync(table, unchecked(hash + 1), hash));
        }

        // Ranges that wrap past uint.MaxValue (begin > end): the low grain lies after the wrap, the high one before it.
        var lowHash = low.GetUniformHashCode();
        Assert.Contains(low, await RangeAsync(table, 0xF000_0000, lowHash));
        Assert.DoesNotContain(low, await RangeAsync(table, 0xF000_0000, lowHash - 1));
        var highHash = high.GetUniformHashCode();
        Assert.Contains(high, await RangeAsync(table, highHash - 1, 0x1000_0000));
        Assert.DoesNotContain(high, await RangeAsync(table, highHash, 0x1000_0000));

        // Against the definition, across boundaries where signed and unsigned orders disagree.
        uint[] bounds = [0, 1, 0x1000_0000, 0x7FFF_FFFF, 0x8000_0000, 0x9000_0000, 0xF000_0000, uint.MaxValue];
        foreach (var begin in bounds)
        {
            foreach (var end in bounds)
            {
                var expected = grains.Where(g => InRing(g.GetUniformHashCode(), begin, end)).ToHashSet();
                var actual = await RangeAsync(table, begin, end);
                Assert.True(expected.SetEquals(actual), $"ReadRows({begin:X8}, {end:X8}) returned the wrong grains");
            }
        }
    }

    [Fact]
    public async Task Reminders_survive_the_host_and_the_schema_is_reapplied_without_harm()
    {
        var grain = GrainId.Create(GrainType, "durable");
        string? etag;
        await using (var first = NewFactory())
        {
            etag = await (await StartedTableAsync(first)).UpsertRow(Entry(grain, "r", TimeSpan.FromMinutes(3)));
        }

        await using var second = NewFactory();
        var table = await StartedTableAsync(second);
        var row = await table.ReadRow(grain, "r");
        Assert.NotNull(etag);
        Assert.Equal(etag, row?.ETag);
        Assert.Equal(7L, Convert.ToInt64(await _database.ExecuteAsync("""
            SELECT COUNT(*) FROM OrleansQuery WHERE QueryKey IN ('ReadReminderRowsKey', 'ReadReminderRowKey',
                'ReadRangeRows1Key', 'ReadRangeRows2Key', 'UpsertReminderRowKey', 'DeleteReminderRowKey', 'DeleteReminderRowsKey')
            """)));
        Assert.Equal(1L, Convert.ToInt64(await _database.ExecuteAsync("SELECT COUNT(*) FROM ConsentReminders")));
        Assert.True(await table.RemoveRow(grain, "r", etag));
    }

    /// <summary>A host over the test database; a PostgreSQL-backed silo needs an explicit anonymisation key.</summary>
    private EdgeApiFactory NewFactory() => new(_database.ConnectionString, new Dictionary<string, string?>
    {
        // Not all zero: the silo refuses that placeholder at start-up.
        ["Consent:AnonymisationKey"] = EdgeApiFactory.AnonymisationKey,
    });

    private static async Task<IReminderTable> StartedTableAsync(EdgeApiFactory factory)
    {
        var table = factory.Services.GetRequiredService<IReminderTable>();
        // The silo's reminder service starts the table; starting it again only reloads the queries.
        await table.StartAsync();
        return table;
    }

    private static ReminderEntry Entry(GrainId grain, string name, TimeSpan period) =>
        new() { GrainId = grain, ReminderName = name, StartAt = StartAt, Period = period };

    private static async Task<HashSet<GrainId>> RangeAsync(IReminderTable table, uint begin, uint end) =>
        (await table.ReadRows(begin, end)).Reminders
            .Where(r => r.GrainId.Type.ToString() == GrainType)
            .Select(r => r.GrainId)
            .ToHashSet();

    /// <summary>Orleans' ring range (begin, end]: wraps when begin &gt;= end; begin == end is the whole ring.</summary>
    private static bool InRing(uint hash, uint begin, uint end) =>
        begin < end ? hash > begin && hash <= end : hash > begin || hash <= end;
}

internal static class ReminderDateTimeExtensions
{
    /// <summary>SQLite hands back the stored UTC time without a kind; PostgreSQL's timestamptz comes back as UTC.</summary>
    public static DateTime ToUniversalTimeAssumingUtc(this DateTime value) =>
        value.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(value, DateTimeKind.Utc) : value.ToUniversalTime();
}

public sealed class SqliteReminderStorageTests : ReminderStorageTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult(TestDatabase.Sqlite());
}

public sealed class PostgresReminderStorageTests : ReminderStorageTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => TestDatabase.PostgresAsync();
}
