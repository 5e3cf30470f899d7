using Orleans.Concurrency;

namespace ShopAstro.Grains.Interfaces;

/// <summary>
/// One stored snapshot of one purpose of a store: the store's counters at <paramref name="At"/>. Checks, allowed
/// checks, grants and withdrawals count since the store's counters began (they only grow); granted and withdrawn
/// are the subjects whose latest choice was a grant or a withdrawal at that instant.
/// </summary>
[GenerateSerializer, Immutable, Alias("shopastro.StatsPoint")]
public sealed record StatsPoint(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] Purpose Purpose,
    [property: Id(2)] PurposeStats Stats);

/// <summary>Reads the stored statistics history of any store (key: 0); the history is written by the store grains.</summary>
[Alias("shopastro.IStatsHistoryGrain")]
public interface IStatsHistoryGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// The snapshots stored for <paramref name="storeId"/> in [<paramref name="from"/>, <paramref name="to"/>), oldest
    /// first, within the retention; with <paramref name="withPrevious"/> also, per purpose, the newest stored before
    /// <paramref name="from"/> (what the counters were when the range began).
    /// </summary>
    [Alias("Read"), ReadOnly]
    Task<StatsPoint[]> Read(string storeId, DateTimeOffset from, DateTimeOffset to, bool withPrevious);

    /// <summary>How far back snapshots are kept.</summary>
    [Alias("Retention"), ReadOnly]
    Task<TimeSpan> Retention();
}
