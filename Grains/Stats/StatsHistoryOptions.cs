namespace ShopAstro.Grains.Stats;

/// <summary><c>StatsHistory:*</c>: how often store statistics are stored as snapshots, and for how long.</summary>
public sealed class StatsHistoryOptions
{
    public const string Section = "StatsHistory";

    /// <summary>How often each active store stores a snapshot of its counters (only when they changed).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long snapshots are kept (aggregates of a store, naming no subject): five weeks, a month of daily partner
    /// aggregates. Older ones are deleted, except the newest per store and purpose, the baseline of the oldest day.
    /// </summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(35);
}

/// <summary>The statistics history in the consent store (implemented by the silo's storage).</summary>
public interface IStatsHistoryStore
{
    /// <summary>Stores one snapshot of every purpose in <paramref name="purposes"/>, all at <paramref name="at"/>; idempotent.</summary>
    Task AppendAsync(string storeId, DateTimeOffset at, IReadOnlyDictionary<ShopAstro.Grains.Interfaces.Purpose, ShopAstro.Grains.Interfaces.PurposeStats> purposes, CancellationToken cancellationToken);

    /// <summary>Snapshots in [from, to), oldest first; with <paramref name="withPrevious"/> also the newest per purpose before <paramref name="from"/>.</summary>
    Task<IReadOnlyList<ShopAstro.Grains.Interfaces.StatsPoint>> ReadAsync(
        string storeId, DateTimeOffset from, DateTimeOffset to, bool withPrevious, CancellationToken cancellationToken);

    /// <summary>Deletes snapshots before <paramref name="cutoff"/>, keeping the newest of each store and purpose; returns how many went.</summary>
    Task<int> PurgeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken);
}
