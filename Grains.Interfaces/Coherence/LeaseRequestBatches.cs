using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Coherence;

/// <summary>
/// An edge's decision lease requests, sent to the cluster in batches: a request goes at once while fewer than
/// <c>maxInFlight</c> batches are on their way; requests made meanwhile wait and go together, in the next batch
/// a sender takes. An idle edge adds no wait; a busy one pays one message for many subjects instead of one each.
/// <para>
/// Transport only, so no coherence rule lives here: each lease is granted by its subject grain as a call of its own
/// would be (<see cref="IDecisionLeaseBatchGrain"/>), and <see cref="HeldLeases"/> counts it from before the request
/// was made, so the time a request waits here only shortens its use. Every request is answered: with its lease, with
/// its subject's failure, or with the batch's failure (every request of a batch that failed or timed out as a whole).
/// </para>
/// </summary>
/// <param name="send">Sends one batch; one answer per ask, in order.</param>
public sealed class LeaseRequestBatches(Func<LeaseAsk[], Task<LeaseAnswer[]>> send, int maxInFlight, int maxBatch = LeaseRequestBatches.DefaultMaxBatch)
{
    public const int DefaultMaxBatch = 256;

    /// <summary>A batch's response timeout: a second more than each of the subject calls it makes (<see cref="CallTimeouts.Check"/>).</summary>
    public const string Timeout = "00:00:03";

    private readonly int _maxInFlight = maxInFlight >= 1 ? maxInFlight : throw new ArgumentOutOfRangeException(nameof(maxInFlight));
    private readonly int _maxBatch = maxBatch >= 1 ? maxBatch : throw new ArgumentOutOfRangeException(nameof(maxBatch));

    // Invariant (under _lock): whenever a request waits in _queue, a sender is on its way (_inFlight > 0), and it takes
    // the queue again before it gives up its place. So no request waits with nobody to send it.
    private readonly Lock _lock = new();
    private readonly Queue<Waiting> _queue = new();
    private int _inFlight;
    private long _batches;
    private long _requests;

    /// <summary>Batches sent so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Requests sent so far (in <see cref="Batches"/>).</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>
    /// Serves a batch where it arrived (<see cref="IDecisionLeaseBatchGrain"/>): every subject is asked at once, with
    /// <paramref name="lease"/> as a call of its own, and each answer is that subject's lease or its failure.
    /// </summary>
    public static async Task<LeaseAnswer[]> AnswerEachAsync(LeaseAsk[] asks, Func<LeaseAsk, ValueTask<DecisionLease>> lease)
    {
        var calls = new ValueTask<DecisionLease>[asks.Length];
        for (var i = 0; i < asks.Length; i++)
        {
            try
            {
                calls[i] = lease(asks[i]);
            }
            catch (Exception exception)
            {
                calls[i] = ValueTask.FromException<DecisionLease>(exception);
            }
        }

        var answers = new LeaseAnswer[asks.Length];
        for (var i = 0; i < asks.Length; i++)
        {
            try
            {
                answers[i] = LeaseAnswer.Granted(await calls[i]);
            }
            catch (Exception exception)
            {
                answers[i] = LeaseAnswer.Failed(exception);
            }
        }

        return answers;
    }

    /// <summary>The lease of the subject <paramref name="key"/> (the signature of <see cref="HeldLeases"/>' request).</summary>
    public Task<DecisionLease> RequestAsync(string key, PolicyStamp? held)
    {
        var waiting = new Waiting(new LeaseAsk(key, held));
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
            _ = SendAsync();
        }

        return waiting.Answer.Task;
    }

    /// <summary>Sends batches while requests wait, then gives up its place.</summary>
    private async Task SendAsync()
    {
        while (TakeOrLeave() is { } batch)
        {
            Interlocked.Increment(ref _batches);
            Interlocked.Add(ref _requests, batch.Count);
            await SendOneAsync(batch);
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
