using System.Globalization;
using Microsoft.Extensions.Options;
using ShopAstro.EdgeApi.Auth;
using ShopAstro.EdgeApi.Http;
using ShopAstro.EdgeApi.OpenApi;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Stats;

namespace ShopAstro.EdgeApi.Endpoints;

/// <summary><c>Aggregates:*</c>: the partner-safe export.</summary>
public sealed class AggregateOptions
{
    public const string Section = "Aggregates";

    /// <summary>A cell counting fewer subjects or events than this is suppressed.</summary>
    public int MinimumGroupSize { get; set; } = 10;
}

/// <summary>A store's stored statistics: the snapshots over time (sellers) and the partner-safe daily aggregates.</summary>
public static class StatsHistoryEndpoints
{
    /// <summary>The longest range one history read covers (a week of 5-minute snapshots).</summary>
    public static readonly TimeSpan MaxHistoryRange = TimeSpan.FromDays(7);

    public const int MaxAggregateDays = 366;

    /// <summary>
    /// A day is given this long after it ended: a snapshot taken just before midnight by a silo whose clock is a
    /// little behind, or stored slowly, could otherwise still add to a day a partner has already read.
    /// </summary>
    public static readonly TimeSpan AggregateSettleTime = TimeSpan.FromMinutes(10);

    public static RouteGroupBuilder MapStatsHistoryEndpoints(this RouteGroupBuilder store)
    {
        store.MapGet("/stats/history", History)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("GetStatsHistory")
            .WithSummary("Stored snapshots of the store's counters in [from, to) (RFC 3339; default the last 24 hours, at most 7 days).")
            .WithQueryFormat("from", "date-time", "The first instant, RFC 3339 with an offset; absent: 24 hours before to.")
            .WithQueryFormat("to", "date-time", "The end (excluded), RFC 3339 with an offset; absent: now.")
            .Produces<StatsHistoryResponse>()
            .ProducesProblems(StatusCodes.Status400BadRequest, "invalid_from", "invalid_to", "invalid_range", "range_too_long");
        store.MapGet("/aggregates", Aggregates)
            .RequireAuthorization(EdgePolicies.Aggregates)
            .WithMetadata(new PartnerAllowedAttribute())
            .WithName("GetAggregates")
            .WithSummary("Grants, withdrawals and opted-in subjects per purpose and ended UTC day (from, to: YYYY-MM-DD, inclusive); small cells suppressed.")
            .WithQueryFormat("from", "date", "The first UTC day; absent: 6 days before to.")
            .WithQueryFormat("to", "date", "The last UTC day; absent, or later than the last ended day: the last ended day.")
            .Produces<AggregatesResponse>()
            .ProducesProblems(StatusCodes.Status400BadRequest, "invalid_from", "invalid_to", "invalid_range", "range_too_long")
            .WithExamples(request: null, ApiExamples.Aggregates);
        return store;
    }

    private static async Task<IResult> History(string storeId, string? from, string? to, IGrainFactory grains, TimeProvider time)
    {
        if (Ids.Reject(storeId) is { } invalid)
        {
            return invalid;
        }

        var now = time.GetUtcNow();
        if (!TryReadInstant(from, now - TimeSpan.FromDays(1), out var start))
        {
            return EdgeProblems.BadRequest("invalid_from", "'from' must be an RFC 3339 time with an offset, e.g. 2026-11-27T09:00:00Z.");
        }

        if (!TryReadInstant(to, now, out var end))
        {
            return EdgeProblems.BadRequest("invalid_to", "'to' must be an RFC 3339 time with an offset, e.g. 2026-11-27T09:00:00Z.");
        }

        if (start >= end)
        {
            return EdgeProblems.BadRequest("invalid_range", "'from' must be before 'to'.");
        }

        if (end - start > MaxHistoryRange)
        {
            return EdgeProblems.BadRequest("range_too_long", $"One read covers at most {MaxHistoryRange.TotalDays:0} days.");
        }

        var points = await grains.GetGrain<IStatsHistoryGrain>(0).Read(storeId, start, end, withPrevious: false);
        var snapshots = points.GroupBy(p => p.At)
            .Select(at => new StatsSnapshotResponse(
                at.Key.UtcDateTime,
                at.OrderBy(p => p.Purpose).ToDictionary(p => p.Purpose.ToId(), p => p.Stats.ToResponse())))
            .ToList();
        return TypedResults.Ok(new StatsHistoryResponse(storeId, start.UtcDateTime, end.UtcDateTime, snapshots));
    }

    private static async Task<IResult> Aggregates(
        string storeId, string? from, string? to, IGrainFactory grains, TimeProvider time, IOptions<AggregateOptions> options)
    {
        if (Ids.Reject(storeId) is { } invalid)
        {
            return invalid;
        }

        // Only days that have ended (and settled): a day still running would change between two reads, and their
        // difference would be the few events in between.
        var yesterday = DateOnly.FromDateTime((time.GetUtcNow() - AggregateSettleTime).UtcDateTime).AddDays(-1);
        if (!TryReadDay(to, yesterday, out var last))
        {
            return EdgeProblems.BadRequest("invalid_to", "'to' must be a UTC date, YYYY-MM-DD.");
        }

        if (!TryReadDay(from, last.AddDays(-6), out var first))
        {
            return EdgeProblems.BadRequest("invalid_from", "'from' must be a UTC date, YYYY-MM-DD.");
        }

        if (first > last)
        {
            return EdgeProblems.BadRequest("invalid_range", "'from' must not be after 'to'.");
        }

        if (last.DayNumber - first.DayNumber + 1 > MaxAggregateDays)
        {
            return EdgeProblems.BadRequest("range_too_long", $"One read covers at most {MaxAggregateDays} days.");
        }

        var history = grains.GetGrain<IStatsHistoryGrain>(0);
        // Days before the retention have lost their snapshots: the first day given is the first that starts within it.
        var oldest = time.GetUtcNow() - await history.Retention();
        var firstKept = DateOnly.FromDateTime(oldest.UtcDateTime);
        if (PartnerAggregates.Midnight(firstKept) < oldest)
        {
            firstKept = firstKept.AddDays(1);
        }

        first = first < firstKept ? firstKept : first;
        last = last > yesterday ? yesterday : last;
        var days = new List<AggregateDayResponse>();
        if (first <= last)
        {
            var points = await history.Read(storeId, PartnerAggregates.Midnight(first), PartnerAggregates.Midnight(last.AddDays(1)), withPrevious: true);
            foreach (var day in PartnerAggregates.Compute(points, first, last, options.Value.MinimumGroupSize))
            {
                days.Add(new AggregateDayResponse(
                    day.Date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                    day.Purposes.ToDictionary(
                        p => p.Key.ToId(),
                        p => new AggregatePurposeResponse(Cell(p.Value.Grants), Cell(p.Value.Withdrawals), Cell(p.Value.OptedIn)))));
            }
        }

        return TypedResults.Ok(new AggregatesResponse(storeId, options.Value.MinimumGroupSize, days));

        static AggregateCellResponse Cell(AggregateCell cell) => new(cell.Value, cell.Suppressed);
    }

    private static bool TryReadInstant(string? text, DateTimeOffset absent, out DateTimeOffset value)
    {
        value = absent;
        return text is null || (RequestInput.TryParseRfc3339(text, out value) && value.Year >= 2000);
    }

    private static bool TryReadDay(string? text, DateOnly absent, out DateOnly value)
    {
        value = absent;
        return text is null
            || (text.Length == 10 && DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out value)
                && value.Year >= 2000);
    }
}
