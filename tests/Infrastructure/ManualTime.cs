namespace ShopAstro.Tests.Infrastructure;

/// <summary>
/// A clock whose time, and timers, move only when a test says so (<see cref="MoveTo"/>): a jump past a timer's due
/// time fires it late, as a process that stalled meanwhile would see it; a periodic timer fires once for each of its
/// periods that the jump passed.
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
                due.Rearm();
            }

            due.Fire();
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new Timer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    private sealed class Timer(ManualTime time, TimerCallback callback, object? state) : ITimer
    {
        private TimeSpan _period = Timeout.InfiniteTimeSpan;

        public long DueAt { get; private set; }

        public void Fire() => callback(state);

        /// <summary>Under the clock's lock, once the timer was taken off as due: its next period, if it has one.</summary>
        public void Rearm()
        {
            if (_period != Timeout.InfiniteTimeSpan && _period > TimeSpan.Zero)
            {
                DueAt += _period.Ticks;
                time._timers.Add(this);
            }
        }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (time._lock)
            {
                time._timers.Remove(this);
                _period = period;
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
