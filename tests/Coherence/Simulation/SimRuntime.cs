namespace ShopAstro.Tests.Coherence.Simulation;

/// <summary>
/// A deterministic single-threaded world in the FoundationDB style: simulated time, simulated processes and one
/// scheduler that, from a seed, decides which ready piece of work runs next. The protocol code under test runs
/// unchanged: its awaits resume through the process's <see cref="SynchronizationContext"/>, its delays and timeouts
/// through the simulated <see cref="TimeProvider"/>. The same seed gives the same schedule, so a violation found is
/// replayed exactly.
/// </summary>
public sealed class SimWorld
{
    private readonly List<(SimProcess Process, SendOrPostCallback Callback, object? State)> _ready = [];
    private readonly PriorityQueue<SimTimer, (long Due, long Sequence)> _timers = new();
    private long _timerSequence;

    public SimWorld(int seed)
    {
        Random = new Random(seed);
        Clock = new SimClock(this);
    }

    public Random Random { get; }

    public SimClock Clock { get; }

    /// <summary>How many scheduling choices were made (pieces of work run).</summary>
    public long Steps { get; private set; }

    public Exception? Fault { get; private set; }

    /// <summary>When set, the cluster writes what happens here (for replaying one seed).</summary>
    public List<string>? Trace { get; set; }

    public void Log(string what) => Trace?.Add($"{Clock.Ticks / 10_000.0,10:F1} ms  {what}");

    internal void Post(SimProcess process, SendOrPostCallback callback, object? state) => _ready.Add((process, callback, state));

    internal void Schedule(SimTimer timer)
    {
        timer.Sequence = ++_timerSequence;
        _timers.Enqueue(timer, (timer.Due, timer.Sequence));
    }

    /// <summary>Runs <paramref name="work"/> in <paramref name="process"/> at <paramref name="delay"/> from now.</summary>
    public void At(TimeSpan delay, SimProcess process, Action work) =>
        Schedule(new SimTimer(this, process, _ => work(), null) { Due = Clock.Ticks + Math.Max(0, delay.Ticks) });

    /// <summary>Runs every piece of work and timer due up to <paramref name="until"/> (simulated ticks), in a seeded order.</summary>
    public void RunUntil(long until)
    {
        while (Fault is null)
        {
            if (_ready.Count > 0)
            {
                var index = Random.Next(_ready.Count);
                var (process, callback, state) = _ready[index];
                _ready[index] = _ready[^1];
                _ready.RemoveAt(_ready.Count - 1);
                if (process.Paused)
                {
                    process.Backlog.Add((callback, state));
                    continue;
                }

                if (!process.Alive)
                {
                    continue;
                }

                Steps++;
                var previous = SynchronizationContext.Current;
                SynchronizationContext.SetSynchronizationContext(process);
                try
                {
                    callback(state);
                }
                catch (Exception exception)
                {
                    Fault = exception;
                }
                finally
                {
                    SynchronizationContext.SetSynchronizationContext(previous);
                }

                continue;
            }

            if (_timers.TryPeek(out var timer, out var due) && due.Due <= until)
            {
                _timers.Dequeue();
                if (timer.Disposed || timer.Sequence != due.Sequence)
                {
                    continue;
                }

                Clock.Ticks = Math.Max(Clock.Ticks, due.Due);
                timer.Fire();
                continue;
            }

            Clock.Ticks = Math.Max(Clock.Ticks, until);
            return;
        }
    }
}

/// <summary>One process of the simulated cluster (a silo, an edge, a client): it can die or be paused.</summary>
public sealed class SimProcess(SimWorld world, string name) : SynchronizationContext
{
    public string Name { get; } = name;

    public bool Alive { get; private set; } = true;

    public bool Paused { get; private set; }

    internal List<(SendOrPostCallback Callback, object? State)> Backlog { get; } = [];

    public SimWorld World => world;

    public override void Post(SendOrPostCallback d, object? state) => world.Post(this, d, state);

    public override void Send(SendOrPostCallback d, object? state) => throw new NotSupportedException("No synchronous sends in the simulation.");

    public override SynchronizationContext CreateCopy() => this;

    /// <summary>Starts <paramref name="work"/> in this process as a new piece of work.</summary>
    public void Run(Func<Task> work) => Post(_ => _ = work(), null);

    /// <summary>kill -9: nothing of this process runs again.</summary>
    public void Kill() => Alive = false;

    /// <summary>SIGSTOP: work and timers wait until <see cref="Resume"/>.</summary>
    public void Pause() => Paused = true;

    /// <summary>SIGCONT.</summary>
    public void Resume()
    {
        Paused = false;
        foreach (var (callback, state) in Backlog)
        {
            world.Post(this, callback, state);
        }

        Backlog.Clear();
    }

    public override string ToString() => Name;
}

/// <summary>Simulated time: advanced only by the scheduler, to the next timer, when nothing else is ready.</summary>
public sealed class SimClock(SimWorld world) : TimeProvider
{
    private static readonly DateTimeOffset Origin = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    public long Ticks { get; internal set; }

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Ticks;

    public override DateTimeOffset GetUtcNow() => Origin.AddTicks(Ticks);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var process = SynchronizationContext.Current as SimProcess
            ?? throw new InvalidOperationException("A timer created outside a simulated process.");
        var timer = new SimTimer(world, process, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }
}

internal sealed class SimTimer(SimWorld world, SimProcess process, TimerCallback callback, object? state) : ITimer
{
    private TimeSpan _period = Timeout.InfiniteTimeSpan;

    public long Due { get; set; }

    public long Sequence { get; set; }

    public bool Disposed { get; private set; }

    public bool Change(TimeSpan dueTime, TimeSpan period)
    {
        if (Disposed)
        {
            return false;
        }

        _period = period;
        if (dueTime != Timeout.InfiniteTimeSpan)
        {
            Due = world.Clock.Ticks + Math.Max(0, dueTime.Ticks);
            world.Schedule(this);
        }
        else
        {
            Sequence = -1;
        }

        return true;
    }

    /// <summary>The callback runs as a piece of work of the process that created the timer.</summary>
    public void Fire()
    {
        world.Post(process, _ => callback(state), null);
        if (_period != Timeout.InfiniteTimeSpan && _period > TimeSpan.Zero)
        {
            Due = world.Clock.Ticks + _period.Ticks;
            world.Schedule(this);
        }
    }

    public void Dispose() => Disposed = true;

    public ValueTask DisposeAsync()
    {
        Disposed = true;
        return ValueTask.CompletedTask;
    }
}
