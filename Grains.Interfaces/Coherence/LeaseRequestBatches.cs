using System.Diagnostics;
using Orleans.Runtime;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Coherence;

/// <summary>
/// An edge's decision lease requests, sent to the cluster in batches: a request goes at once while fewer than
/// <c>maxInFlight</c> batches are on their way; requests made meanwhile wait and go together, in the next batch
/// a sender takes. An idle edge adds no wait; a busy one pays one message for many subjects instead of one each.
/// A batch still unanswered after <paramref name="slowAfter"/> gives up its place (one slow subject, an activation or a
/// change waiting out an unreachable edge, holds up only the requests in its own batch, not the next batches).
/// <para>
/// Transport only, so no coherence rule lives here: each lease is granted by its subject grain's own
/// <c>LeaseDecisions</c> (<see cref="LeaseBatchAnswers"/>), and <see cref="HeldLeases"/> counts it from before the
/// request was made, so the time a request waits here only shortens its use. Every request is answered: with its
/// lease, with its subject's failure, or with its batch's failure (every request of a batch that failed or timed out
/// as a whole).
/// </para>
/// </summary>
/// <param name="send">Sends one batch; one answer per ask, in order.</param>
public sealed class LeaseRequestBatches(
    Func<LeaseAsk[], Task<LeaseAnswer[]>> send, int maxInFlight, TimeProvider time, TimeSpan slowAfter, int maxBatch = LeaseRequestBatches.DefaultMaxBatch)
{
    public const int DefaultMaxBatch = 256;

    /// <summary>How long a batch may take before the requests after it no longer wait for it.</summary>
    public static readonly TimeSpan DefaultSlowAfter = TimeSpan.FromMilliseconds(50);

    private readonly int _maxInFlight = maxInFlight >= 1 ? maxInFlight : throw new ArgumentOutOfRangeException(nameof(maxInFlight));
    private readonly int _maxBatch = maxBatch >= 1 ? maxBatch : throw new ArgumentOutOfRangeException(nameof(maxBatch));

    // Invariant (under _lock): whenever a request waits in _queue, a sender holds a place (_inFlight > 0), and it takes
    // the queue again before it gives up its place, or starts another sender when it gives it up to a slow batch. So no
    // request waits with nobody to send it.
    private readonly Lock _lock = new();
    private readonly Queue<Waiting> _queue = new();
    private int _inFlight;
    private long _batches;
    private long _requests;

    /// <summary>Batches sent so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Requests sent so far (in <see cref="Batches"/>).</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>The lease of the subject <paramref name="key"/> (the signature of <see cref="HeldLeases"/>' request).</summary>
    public Task<DecisionLease> RequestAsync(string key)
    {
        var waiting = new Waiting(new LeaseAsk(key));
        bool start;
        lock (_lock)
        {
            _queue.Enqueue(waiting);
            // Else a sender is on its way: it takes what waits when its batch is answered.
            start = _inFlight < _maxInFlight;
            if (start)
            {
                _inFlight++;
            }
        }

        if (start)
        {
            _ = SendAsync(inRequestContext: true);
        }

        return waiting.Answer.Task;
    }

    /// <summary>
    /// Sends batches while requests wait, then gives up its place; a slow batch gives it up to a new sender. Started by a
    /// request (<paramref name="inRequestContext"/>), its first batch goes in that request's context (its trace spans the
    /// lease call); every other batch serves other requests, so none of that context goes with it (a change here does
    /// not reach the caller: an async method restores its caller's context).
    /// </summary>
    private async Task SendAsync(bool inRequestContext)
    {
        var first = true;
        while (TakeOrLeave() is { } batch)
        {
            if (!first || !inRequestContext)
            {
                Activity.Current = null;
                RequestContext.Clear();
            }

            first = false;
            Interlocked.Increment(ref _batches);
            Interlocked.Add(ref _requests, batch.Count);
            var sending = SendOneAsync(batch);
            if (!sending.IsCompleted && !await AnsweredWithinAsync(sending))
            {
                // It answers its own requests when it completes; the requests after it go on without it: this place
                // goes to a new sender, which gives it up at once if nothing waits.
                _ = SendAsync(inRequestContext: false);
                return;
            }
        }
    }

    private async Task<bool> AnsweredWithinAsync(Task sending)
    {
        try
        {
            await sending.WaitAsync(slowAfter, time);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>The next batch; or null, the sender's place given up, when nothing waits.</summary>
    private List<Waiting>? TakeOrLeave()
    {
        lock (_lock)
        {
            if (_queue.Count == 0)
            {
                _inFlight--;
                return null;
            }

            var batch = new List<Waiting>(Math.Min(_queue.Count, _maxBatch));
            while (batch.Count < _maxBatch && _queue.TryDequeue(out var waiting))
            {
                batch.Add(waiting);
            }

            return batch;
        }
    }

    private async Task SendOneAsync(List<Waiting> batch)
    {
        LeaseAnswer[] answers;
        try
        {
            var asks = new LeaseAsk[batch.Count];
            for (var i = 0; i < batch.Count; i++)
            {
                asks[i] = batch[i].Ask;
            }

            answers = await send(asks);
            if (answers.Length != batch.Count)
            {
                throw new InvalidOperationException($"A lease batch of {batch.Count} requests was answered with {answers.Length} answers.");
            }
        }
        catch (Exception exception)
        {
            foreach (var waiting in batch)
            {
                waiting.Answer.TrySetException(exception);
            }

            return;
        }

        for (var i = 0; i < batch.Count; i++)
        {
            var answer = answers[i];
            if (answer?.Lease is { } lease)
            {
                batch[i].Answer.TrySetResult(lease);
            }
            else
            {
                batch[i].Answer.TrySetException(answer?.Failure ?? new InvalidOperationException("A lease answer with neither a lease nor a failure."));
            }
        }
    }

    private sealed class Waiting(LeaseAsk ask)
    {
        public LeaseAsk Ask { get; } = ask;

        // Answered on the thread pool: the sender goes on to its next batch at once.
        public TaskCompletionSource<DecisionLease> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
