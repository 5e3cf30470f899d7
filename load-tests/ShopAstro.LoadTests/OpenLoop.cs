using System.Diagnostics;
using System.Net;

namespace ShopAstro.LoadTests;

/// <param name="GeneratorGcPauseMs">The generator process's garbage-collection pauses during the run, all threads stopped.</param>
public sealed record OpenLoopResult(
    string Target, double OfferedPerSecond, double AchievedPerSecond, double Seconds, long Sent, long Ok, long Errors,
    LatencySummary Latency, LatencySummary DispatchLag, double GeneratorGcPauseMs, int GeneratorGen2Collections);

/// <summary>
/// Open loop, constant rate: request i is due at start + i / rate whether or not earlier ones were answered, and
/// its latency runs from that intended send time (so queueing in the generator or the server counts, and no
/// coordinated omission hides it). Up to <c>connections</c> HTTP/1.1 connections; requests beyond them wait
/// in the handler's queue, on the clock.
/// </summary>
public static class OpenLoop
{
    public static HttpMessageInvoker Client(int connections) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = connections,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        AutomaticDecompression = DecompressionMethods.None,
        UseProxy = false,
        UseCookies = false,
        ConnectTimeout = TimeSpan.FromSeconds(5),
    });

    /// <summary>A single check of two purposes for a subject drawn from the key space with its skew.</summary>
    public static HttpRequestMessage CheckRequest(KeySpace keys, string baseUrl)
    {
        var index = keys.SampleIndex(Random.Shared);
        var request = new HttpRequestMessage(HttpMethod.Get,
            $"{baseUrl}/v1/stores/{KeySpace.StoreId(keys.StoreOf(index))}/subjects/{KeySpace.SubjectId(index)}/decisions?purpose=analytics&purpose=cart");
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + RunContext.StorefrontToken);
        return request;
    }

    /// <param name="yieldWhenDueSoon">
    /// Whether the scheduler yields instead of sleeping when the next send is due within 0.3 ms: in a process that the
    /// processes under test can keep off the CPU, a sleeping scheduler may wake late; one of higher priority
    /// (<see cref="OpenLoopProcess"/>) sleeps whenever nothing is due.
    /// </param>
    public static async Task<OpenLoopResult> RunAsync(
        string target, HttpMessageInvoker client, Func<long, HttpRequestMessage> request, double rate, TimeSpan duration,
        Action<long, HttpResponseMessage, long>? onResponse = null, bool yieldWhenDueSoon = true)
    {
        var total = (long)(rate * duration.TotalSeconds);
        var histogram = new MicrosHistogram();
        var lag = new MicrosHistogram();
        long ok = 0, errors = 0, outstanding = 0, sent = 0;
        var allSent = new TaskCompletionSource();
        var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ticksPerRequest = Stopwatch.Frequency / rate;
        var pausedBefore = GC.GetTotalPauseDuration();
        var gen2Before = GC.CollectionCount(2);
        var start = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 20;

        async Task SendOne(long i, long intended)
        {
            try
            {
                using var message = request(i);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                using var response = await client.SendAsync(message, timeout.Token).ConfigureAwait(false);
                await response.Content.LoadIntoBufferAsync(timeout.Token).ConfigureAwait(false);
                var now = Stopwatch.GetTimestamp();
                histogram.RecordTicks(now - intended);
                if (response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref ok);
                    onResponse?.Invoke(i, response, now);
                }
                else
                {
                    Interlocked.Increment(ref errors);
                }
            }
            catch (Exception)
            {
                histogram.RecordTicks(Stopwatch.GetTimestamp() - intended);
                Interlocked.Increment(ref errors);
            }
            finally
            {
                if (Interlocked.Decrement(ref outstanding) == 0 && allSent.Task.IsCompleted)
                {
                    drained.TrySetResult();
                }
            }
        }

        // A dedicated thread schedules: it sleeps about a millisecond (or yields, see above), then starts every request that has come due.
        var scheduler = new Thread(() =>
        {
            long i = 0;
            while (i < total)
            {
                var now = Stopwatch.GetTimestamp();
                while (i < total)
                {
                    var intended = start + (long)(i * ticksPerRequest);
                    if (intended > now)
                    {
                        break;
                    }

                    Interlocked.Increment(ref outstanding);
                    Interlocked.Increment(ref sent);
                    lag.RecordTicks(now - intended);
                    var index = i;
                    ThreadPool.UnsafeQueueUserWorkItem(_ => _ = SendOne(index, intended), null);
                    i++;
                }

                if (i < total)
                {
                    // Sleep (about 1.1 ms on Linux), or yield when asked to and the next send is due within 0.3 ms: the
                    // scheduler costs little CPU on a 2-core machine, and the dispatch lag this leaves is reported.
                    var wait = start + (long)(i * ticksPerRequest) - Stopwatch.GetTimestamp();
                    if (wait > 0 && (!yieldWhenDueSoon || wait >= Stopwatch.Frequency / 3000))
                    {
                        Thread.Sleep(1);
                    }
                    else if (wait > 0)
                    {
                        Thread.Yield();
                    }
                }
            }
        })
        { IsBackground = true, Name = "open-loop scheduler", Priority = ThreadPriority.AboveNormal };
        scheduler.Start();
        await Task.Run(scheduler.Join);
        allSent.SetResult();
        if (Interlocked.Read(ref outstanding) == 0)
        {
            drained.TrySetResult();
        }

        await Task.WhenAny(drained.Task, Task.Delay(TimeSpan.FromSeconds(40)));
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var summary = histogram.Summary();
        return new OpenLoopResult(target, Math.Round(rate, 1), Math.Round(summary.Count / Math.Max(elapsed, 1e-3), 1), Math.Round(elapsed, 2),
            sent, ok, errors, summary, lag.Summary(), Math.Round((GC.GetTotalPauseDuration() - pausedBefore).TotalMilliseconds, 1),
            GC.CollectionCount(2) - gen2Before);
    }
}
