using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Stats;

/// <summary>One published count: its value, or null and <see cref="Suppressed"/> when it describes too few subjects.</summary>
public readonly record struct AggregateCell(long? Value, bool Suppressed)
{
    public static AggregateCell Of(long value, int minimumGroupSize) =>
        value < minimumGroupSize ? new(null, true) : new(value, false);

    public static readonly AggregateCell Withheld = new(null, true);
}

/// <summary>A purpose on one UTC day: grants and withdrawals made that day, subjects opted in at its end.</summary>
public sealed record AggregatePurposeDay(AggregateCell Grants, AggregateCell Withdrawals, AggregateCell OptedIn);

public sealed record AggregateDay(DateOnly Date, IReadOnlyDictionary<Purpose, AggregatePurposeDay> Purposes);

/// <summary>
/// Counts per consent-based purpose and UTC day for partners (privacy policy §3: aggregates that identify no one),
/// computed from the stored snapshots only. Rules against recomputing a suppressed cell:
/// <list type="bullet">
/// <item>every cell under the minimum group size, zero included, is suppressed (null, flagged);</item>
/// <item>no totals (over purposes, days or metrics) are given, so none can be subtracted from;</item>
/// <item>a day's cells depend only on that day's snapshots and the one before it, and only days that have ended are
/// given, so overlapping or repeated queries answer the same cell the same way and cannot be differenced;</item>
/// <item>when a day's grants or withdrawals are suppressed, so is its opted-in count: its change from the day before
/// would otherwise bound the suppressed count.</item>
/// </list>
/// </summary>
public static class PartnerAggregates
{
    /// <param name="points">Snapshots of the store up to the end of <paramref name="last"/>, including, per purpose, the newest before <paramref name="first"/>.</param>
    public static IReadOnlyList<AggregateDay> Compute(IEnumerable<StatsPoint> points, DateOnly first, DateOnly last, int minimumGroupSize)
    {
        var byPurpose = points.GroupBy(p => p.Purpose).ToDictionary(g => g.Key, g => g.OrderBy(p => p.At).ToArray());
        var days = new List<AggregateDay>();
        for (var day = first; day <= last; day = day.AddDays(1))
        {
            var start = Midnight(day);
            var end = Midnight(day.AddDays(1));
            var purposes = new Dictionary<Purpose, AggregatePurposeDay>();
            foreach (var purpose in Purposes.ConsentBased)
            {
                var series = byPurpose.GetValueOrDefault(purpose) ?? [];
                var before = LastBefore(series, start);
                var atEnd = LastBefore(series, end);
                // Snapshots only grow (StatsSnapshots); Math.Max guards the difference all the same.
                var grants = AggregateCell.Of(Math.Max(0, atEnd.Grants - before.Grants), minimumGroupSize);
                var withdrawals = AggregateCell.Of(Math.Max(0, atEnd.Withdrawals - before.Withdrawals), minimumGroupSize);
                var optedIn = grants.Suppressed || withdrawals.Suppressed
                    ? AggregateCell.Withheld
                    : AggregateCell.Of(atEnd.Granted, minimumGroupSize);
                purposes[purpose] = new AggregatePurposeDay(grants, withdrawals, optedIn);
            }

            days.Add(new AggregateDay(day, purposes));
        }

        return days;
    }

    public static DateTimeOffset Midnight(DateOnly day) => new(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);

    /// <summary>The counters of the newest snapshot before <paramref name="instant"/>; none yet: zero.</summary>
    private static PurposeStats LastBefore(StatsPoint[] series, DateTimeOffset instant)
    {
        var found = default(PurposeStats);
        foreach (var point in series)
        {
            if (point.At >= instant)
            {
                break;
            }

            found = point.Stats;
        }

        return found;
    }
}
