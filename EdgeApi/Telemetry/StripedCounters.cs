using System.Numerics;

namespace ShopAstro.EdgeApi.Telemetry;

/// <summary>
/// A fixed set of counters that every request adds to, kept once per core so that requests on different cores never
/// write the same cache line: a shared cell's line moves between the cores on every add, which is what a counter on
/// the single check's path costs most. Adds are interlocked (threads of one core may still race); reads sum the
/// copies, so a reader sees every add that completed before it began.
/// </summary>
public sealed class StripedCounters
{
    private const int LineLongs = 64 / sizeof(long);

    /// <summary>At most 16 copies: beyond that, two cores sharing one costs less than the memory of more.</summary>
    private static readonly int Stripes = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(Environment.ProcessorCount, 1, 16));

    private readonly long[] _values;
    private readonly int _stride;

    public StripedCounters(int cells)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cells);
        Cells = cells;
        // Whole lines per copy, plus one line between copies and before the first: the array itself is not line-aligned.
        _stride = ((cells + LineLongs - 1) / LineLongs * LineLongs) + LineLongs;
        _values = new long[LineLongs + (_stride * Stripes)];
    }

    public int Cells { get; }

    public void Add(int cell, long value)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)cell, (uint)Cells, nameof(cell));
        Interlocked.Add(ref _values[LineLongs + ((Thread.GetCurrentProcessorId() & (Stripes - 1)) * _stride) + cell], value);
    }

    public void Increment(int cell) => Add(cell, 1);

    /// <summary>The sum of every copy of <paramref name="cell"/>.</summary>
    public long Read(int cell)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)cell, (uint)Cells, nameof(cell));
        long sum = 0;
        for (var stripe = 0; stripe < Stripes; stripe++)
        {
            sum += Volatile.Read(ref _values[LineLongs + (stripe * _stride) + cell]);
        }

        return sum;
    }
}
