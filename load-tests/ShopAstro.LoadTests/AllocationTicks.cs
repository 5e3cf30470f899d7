using System.Diagnostics.Tracing;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Parsers;

namespace ShopAstro.LoadTests;

/// <summary>
/// The bytes a process allocates while this session is open, from the GC's allocation ticks over EventPipe: the
/// runtime raises one each time a heap has allocated about 100 KB more, carrying the amount, so their sum is the
/// allocation to within about 100 KB per heap at each end.
/// <para>
/// Not the process's own count (<c>GC.GetTotalAllocatedBytes</c>, which <c>dotnet.gc.heap.total_allocated</c> and
/// dotnet-counters read): on this runtime (.NET 10.0.12) that sums only the heaps in use, so under DATAS (server GC
/// changing its heap count at run time, on by default) it stops at its high-water mark, or jumps, when the count
/// changes (dotnet/runtime#131069). Load-test runs read 0 B per check from it for the edge, where the ticks give
/// about 500 B.
/// </para>
/// </summary>
internal sealed class AllocationTicks
{
    private readonly EventPipeSession _session;
    private readonly Task _processing;
    private long _bytes;
    private long _ticks;

    private AllocationTicks(EventPipeSession session)
    {
        _session = session;
        var source = new EventPipeEventSource(session.EventStream);
        source.Clr.GCAllocationTick += tick =>
        {
            Interlocked.Add(ref _bytes, tick.AllocationAmount64);
            Interlocked.Increment(ref _ticks);
        };
        _processing = Task.Run(() => source.Process());
    }

    /// <summary>A session on <paramref name="pid"/>, or null (with the reason written out) when it cannot be opened.</summary>
    public static AllocationTicks? Start(int pid)
    {
        try
        {
            var provider = new EventPipeProvider(ClrTraceEventParser.ProviderName, EventLevel.Verbose, (long)ClrTraceEventParser.Keywords.GC);
            return new AllocationTicks(new DiagnosticsClient(pid).StartEventPipeSession([provider], requestRundown: false, circularBufferMB: 64));
        }
        catch (Exception exception)
        {
            // A measurement aid: whatever keeps the session from opening, the run goes on without it.
            Console.WriteLine($"allocation ticks of process {pid} unavailable: {exception.Message}");
            return null;
        }
    }

    /// <summary>Closes the session; the bytes allocated while it was open (null if its events could not be read), and how many ticks they came in.</summary>
    public async Task<(long? Bytes, long Ticks)> StopAsync()
    {
        try
        {
            await _session.StopAsync(CancellationToken.None);
            await _processing.WaitAsync(TimeSpan.FromSeconds(20));
            return (Interlocked.Read(ref _bytes), Interlocked.Read(ref _ticks));
        }
        catch (Exception exception)
        {
            // The target gone, the stream cut short, the parser failing: no figure from this session, and the run goes on.
            Console.WriteLine($"allocation ticks: the session did not end cleanly: {exception.Message}");
            return (null, Interlocked.Read(ref _ticks));
        }
        finally
        {
            _session.Dispose();
        }
    }
}
