using Orleans.Runtime;

namespace ShopAstro.Coherence;

/// <summary>
/// Whether this silo may still answer from its activations' state: only within <see cref="Validity"/> of the start
/// of a read of the membership table that named this silo alive (one per silo, fed by the silo's confirmation loop).
/// <para>
/// Invariant: no answer, lease or acknowledgement leaves a silo more than <see cref="Validity"/> after the start of its
/// last read that found it alive. A silo that stops (SIGSTOP, a stalled VM, a long pause of the runtime) is declared
/// dead by the others at the earliest after its probes have gone unanswered for a while (the minimum time to a death
/// declaration, about <c>ProbeTimeout</c> with this cluster's settings); with a validity shorter than that, every
/// answer of its activations has left before another activation of the same grain can exist. When it resumes, its
/// activations (which the cluster replaced meanwhile) answer nothing until a new read has found it alive, and a read
/// that finds it dead stops them for good (the runtime then ends the process).
/// </para>
/// A silo declared dead while it runs (cut off from the others but not from the membership table) may still answer
/// until <see cref="Validity"/> after its last read before the declaration: the fence shortens that window to at most
/// a validity, it does not close it (docs/coherence.md, "Assumptions").
/// </summary>
public sealed class MembershipFence
{
    private readonly TimeProvider _time;
    private readonly long _validity;
    private readonly Lock _lock = new();
    private long _freshUntil;
    private bool _disowned;
    // Completed outside the lock; its waiters continue in their own context (a grain's scheduler), not on the reader's thread.
    private TaskCompletionSource<bool> _next = new();

    public MembershipFence(TimeProvider time, TimeSpan validity)
    {
        _time = time;
        Validity = validity;
        _validity = time.TimestampTicks(validity);
    }

    public TimeSpan Validity { get; }

    /// <summary>Raised when an answer waits for a confirmation: the loop reads the table now instead of at its next turn.</summary>
    public event Action? ConfirmationWanted;

    public bool IsFresh => Volatile.Read(ref _freshUntil) > _time.GetTimestamp();

    public bool Disowned
    {
        get
        {
            lock (_lock)
            {
                return _disowned;
            }
        }
    }

    /// <summary>A read that started at <paramref name="readStartedAt"/> (a timestamp taken before it was sent) named this silo alive.</summary>
    public void Confirmed(long readStartedAt)
    {
        TaskCompletionSource<bool> released;
        lock (_lock)
        {
            if (_disowned)
            {
                return;
            }

            if (readStartedAt + _validity > _freshUntil)
            {
                Volatile.Write(ref _freshUntil, readStartedAt + _validity);
            }

            released = _next;
            _next = new();
        }

        released.SetResult(true);
    }

    /// <summary>A read found this silo declared dead: its activations answer nothing any more.</summary>
    public void Disown()
    {
        TaskCompletionSource<bool> released;
        lock (_lock)
        {
            _disowned = true;
            Volatile.Write(ref _freshUntil, 0);
            released = _next;
        }

        released.TrySetResult(false);
    }

    /// <summary>
    /// A call on this silo: started once the silo is fresh, and complete (its result or failure handed on) only once the
    /// silo is fresh again after it, so that nothing it answers leaves a silo that may have been replaced meanwhile.
    /// </summary>
    public async Task RunAsync(Func<Task> call, TimeSpan patience)
    {
        await WhenFreshAsync(patience);
        await AnswerAsync(call(), patience);
    }

    /// <summary>A call already running (started while fresh): complete once it is and this silo is fresh again.</summary>
    public async Task AnswerAsync(Task running, TimeSpan patience)
    {
        try
        {
            await running;
        }
        finally
        {
            await WhenFreshAsync(patience);
        }
    }

    /// <summary>
    /// Completes at once while fresh; otherwise once a read has confirmed this silo (asking for one). Throws
    /// <see cref="SiloUnavailableException"/> when this silo was declared dead, and a <see cref="TimeoutException"/> when
    /// no read confirmed it within <paramref name="patience"/>.
    /// </summary>
    public ValueTask WhenFreshAsync(TimeSpan patience) => IsFresh ? ValueTask.CompletedTask : WaitAsync(patience);

    private async ValueTask WaitAsync(TimeSpan patience)
    {
        var giveUpAt = _time.GetTimestamp() + _time.TimestampTicks(patience);
        while (true)
        {
            Task<bool> next;
            lock (_lock)
            {
                if (_disowned)
                {
                    // As Orleans answers for a silo it knows dead: the edge answers 503 and a retry reaches the new activation.
                    throw new SiloUnavailableException("This silo was declared dead by the cluster; its activations answer nothing.");
                }

                if (IsFresh)
                {
                    return;
                }

                next = _next.Task;
            }

            ConfirmationWanted?.Invoke();
            var left = giveUpAt - _time.GetTimestamp();
            if (left <= 0)
            {
                throw new TimeoutException($"This silo's membership was not confirmed within {patience.TotalSeconds:0.#} s: it answers nothing meanwhile.");
            }

            try
            {
                await next.WaitAsync(TimeSpan.FromSeconds((double)left / _time.TimestampFrequency), _time);
            }
            catch (TimeoutException)
            {
                // Checked again at the top: disowned, fresh after all, or given up.
            }
        }
    }
}
