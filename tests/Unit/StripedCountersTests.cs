using ShopAstro.EdgeApi.Telemetry;

namespace ShopAstro.Tests.Unit;

/// <summary>The edge's per-core counters: every add is counted once, in its own cell, whatever core made it.</summary>
public sealed class StripedCountersTests
{
    [Fact]
    public async Task Adds_from_threads_on_every_core_sum_to_their_total_per_cell()
    {
        var counters = new StripedCounters(11);
        const int Threads = 8, AddsPerThread = 100_000;
        await Task.WhenAll(Enumerable.Range(0, Threads).Select(thread => Task.Run(() =>
        {
            for (var i = 0; i < AddsPerThread; i++)
            {
                // Cell 0 from every thread; cell 1 + thread from its own; cell 10 by 3 at a time.
                counters.Increment(0);
                counters.Increment(1 + thread);
                if (i % 2 == 0)
                {
                    counters.Add(10, 3);
                }

                if (i % 1_000 == 0)
                {
                    // Let the scheduler move the thread between cores now and then.
                    Thread.Yield();
                }
            }
        })));

        Assert.Equal((long)Threads * AddsPerThread, counters.Read(0));
        Assert.All(Enumerable.Range(1, Threads), cell => Assert.Equal(AddsPerThread, counters.Read(cell)));
        Assert.Equal(0, counters.Read(9));
        Assert.Equal((long)Threads * (AddsPerThread / 2) * 3, counters.Read(10));
    }

    [Fact]
    public void A_cell_past_the_last_is_refused_rather_than_counted_in_another_copy()
    {
        var counters = new StripedCounters(3);
        Assert.Throws<ArgumentOutOfRangeException>(() => counters.Add(3, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => counters.Add(-1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => counters.Read(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new StripedCounters(0));
        counters.Add(2, 5);
        Assert.Equal([0, 0, 5], Enumerable.Range(0, 3).Select(counters.Read));
    }
}
