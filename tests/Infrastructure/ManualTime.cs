namespace ShopAstro.Tests.Infrastructure;

/// <summary>
/// A clock whose time, and timers, move only when a test says so (<see cref="MoveTo"/>): a jump past a timer's due
/// time fires it late, as a process that stalled meanwhile would see it.
/// </summary>
public sealed class ManualTime : TimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<Timer> _timers = [];
    private long _now;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Volatile.Read(ref _now);

    public override DateTimeOffset GetUtcNow() => DateTimeOffset.UnixEpoch.AddTicks(GetTimestamp());

    /// <summary>Sets the time to <paramref name="now"/>, then fires every timer due by then, in due order.</summary>
    public void MoveTo(TimeSpan now)
    {
        Volatile.Write(ref _now, now.Ticks);
        while (true)
        {
            Timer? due;
            lock (_lock)
            {
                due = _timers.Where(timer => timer.DueAt <= now.Ticks).MinBy(timer => timer.DueAt);
                if (due is null)
                {
                    return;
                }

                _timers.Remove(due);
            }

            due.Fire();
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        if (period != Timeout.InfiniteTimeSpan)
        {
            throw new NotSupportedException("Periodic timers are not needed here.");
        }

        var timer = new Timer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    private sealed class Timer(ManualTime time, TimerCallback callback, object? state) : ITimer
    {
        public long DueAt { get; private set; }

        public void Fire() => callback(state);

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (time._lock)
            {
                time._timers.Remove(this);
                if (dueTime != Timeout.InfiniteTimeSpan)
                {
                    DueAt = time.GetTimestamp() + dueTime.Ticks;
                    time._timers.Add(this);
                }
            }

            return true;
        }

        public void Dispose() => Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
