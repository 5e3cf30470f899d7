using System.Collections.Immutable;
using ShopAstro.Coherence;
using ShopAstro.Grains;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Tests.Coherence.Simulation;

/// <summary>What the simulated cluster may do wrong, and how often.</summary>
public sealed record SimFaults(
    double MessageLoss = 0.01,
    double SlowMessage = 0.02,
    double WriteFailure = 0.05,
    double CommitThenFailure = 0.03,
    double SiloKill = 0.02,
    double EdgePause = 0.02,
    double EdgeKill = 0.01,
    double Partition = 0.02,
    double DuplicateActivation = 0.0,
    double SiloPause = 0.02,
    double EdgeDropsRevocations = 0.01)
{
    public static SimFaults None { get; } = new(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
}

/// <summary>The network between simulated processes: delays, loss, partitions.</summary>
public sealed class SimNetwork(SimWorld world, SimFaults faults)
{
    private readonly HashSet<(SimProcess, SimProcess)> _cut = [];

    public int Lost { get; private set; }

    public void Cut(SimProcess a, SimProcess b)
    {
        _cut.Add((a, b));
        _cut.Add((b, a));
    }

    public void Heal() => _cut.Clear();

    private TimeSpan Delay() => world.Random.NextDouble() < faults.SlowMessage
        ? TimeSpan.FromMilliseconds(500 + world.Random.Next(2500))
        : TimeSpan.FromTicks(1_000 + world.Random.Next(20_000));

    private bool Drops(SimProcess from, SimProcess to)
    {
        if (_cut.Contains((from, to)) || world.Random.NextDouble() < faults.MessageLoss)
        {
            Lost++;
            return true;
        }

        return false;
    }

    /// <summary>A request from the current process to <paramref name="to"/> and its answer; either may be lost.</summary>
    public Task<T> Call<T>(SimProcess to, Func<Task<T>> handler)
    {
        var from = SynchronizationContext.Current as SimProcess ?? throw new InvalidOperationException("A call from outside a process.");
        var reply = new TaskCompletionSource<T>();
        if (!Drops(from, to))
        {
            world.At(Delay(), to, () => _ = DeliverAsync());
        }

        return reply.Task;

        async Task DeliverAsync()
        {
            Exception? failure = null;
            T result = default!;
            try
            {
                result = await handler();
            }
            catch (Exception exception)
            {
                failure = exception;
            }

            if (!Drops(to, from))
            {
                world.At(Delay(), from, () =>
                {
                    if (failure is null)
                    {
                        reply.TrySetResult(result);
                    }
                    else
                    {
                        reply.TrySetException(failure);
                    }
                });
            }
        }
    }

    /// <summary>A grain call to a silo: its answer leaves only while the silo's membership is confirmed (as <c>MembershipFenceFilter</c>).</summary>
    public Task<T> Call<T>(SimSilo to, Func<Task<T>> handler) => Call(to.Process, () => to.AnswerAsync(handler));

    public Task Call(SimProcess to, Action handler) => Call(to, () =>
    {
        handler();
        return Task.FromResult(true);
    });
}

/// <summary>
/// The consent store: rows with versions, written with the same contract as the ADO.NET schema. A statement runs in the
/// database's own process once it has been sent, whatever becomes of its sender meanwhile (a paused silo hears of its
/// commit when it runs again).
/// </summary>
public sealed class SimStorage(SimWorld world, SimFaults faults, SimHistory history)
{
    private readonly Dictionary<string, (int Version, SubjectRecord Record)> _rows = [];
    private readonly SimProcess _database = new(world, "postgres");

    public IEnumerable<string> SubjectsWithRecords => _rows.Keys;

    /// <summary>The store's policy versions as committed (as the store grain's state: in force, and scheduled).</summary>
    public StoreState State { get; private set; } = null!;

    public void InitialPolicy(StorePolicy policy)
    {
        State = new StoreState { Policy = policy, History = [policy] };
        history.PolicyCommitted(policy);
    }

    /// <summary>
    /// Writes the store's policy versions over <paramref name="basedOn"/>, as the store grain's state write, adding
    /// <paramref name="version"/>: may fail before the commit, or after it (the caller hears of a failure either way).
    /// </summary>
    public Task WritePolicyAsync(StoreState next, StoreState basedOn, StorePolicy version) => RunAsync(TimeSpan.FromTicks(10_000 + world.Random.Next(40_000)), () =>
    {
        if (world.Random.NextDouble() < faults.WriteFailure)
        {
            throw new SimStorageException("policy write failed before the commit");
        }

        if (!ReferenceEquals(State, basedOn))
        {
            throw new SimConflictException();
        }

        State = next;
        history.PolicyCommitted(version);
        world.Log($"storage: policy {version.Version} ({version.Status}) committed{(version.EffectiveAt is { } at ? $", in force at {at.Ticks % 1_000_000_000}" : "")}");
        if (world.Random.NextDouble() < faults.CommitThenFailure)
        {
            throw new SimStorageException("policy committed, but the answer was lost");
        }

        return true;
    });

    /// <summary>Runs right after a commit, before the writer hears of it (a scripted fault: kill the writer's silo there).</summary>
    public Action<string>? AfterCommit { get; set; }

    public Task<(int? Version, SubjectRecord? Record)> ReadAsync(string subject) => RunAsync(TimeSpan.FromTicks(5_000 + world.Random.Next(20_000)),
        () => _rows.TryGetValue(subject, out var row) ? ((int?)row.Version, (SubjectRecord?)row.Record) : (null, null));

    /// <summary>
    /// Writes <paramref name="record"/> (with <paramref name="clear"/>: deletes the row) over <paramref name="expected"/>;
    /// returns the new version. May fail before the commit, or after it (the caller hears of a failure either way).
    /// </summary>
    public Task<int?> WriteAsync(string subject, int? expected, SubjectRecord record, bool clear, SubjectRecord basedOn, bool explicitRoute, int writeId) =>
        RunAsync(TimeSpan.FromTicks(10_000 + world.Random.Next(40_000)), () =>
        {
            if (world.Random.NextDouble() < faults.WriteFailure)
            {
                throw new SimStorageException("write failed before the commit");
            }

            var exists = _rows.TryGetValue(subject, out var row);
            if (expected is null ? exists : !exists || row.Version != expected)
            {
                throw new SimConflictException();
            }

            int? version;
            if (clear)
            {
                _rows.Remove(subject);
                version = null;
            }
            else
            {
                version = (expected ?? 0) + 1;
                _rows[subject] = (version.Value, record);
            }

            history.Committed(subject, record, basedOn, explicitRoute, clear, writeId);
            AfterCommit?.Invoke(subject);
            world.Log($"storage: {subject} committed {record.LastWrittenAt?.Ticks % 100000} {record.Status} {string.Join(",", record.Consents.Select(c => $"{c.Key}={c.Value.Granted}"))} clear={clear}");
            if (world.Random.NextDouble() < faults.CommitThenFailure)
            {
                throw new SimStorageException("committed, but the answer was lost");
            }

            return version;
        });

    /// <summary>A statement sent now: it runs in the database after <paramref name="latency"/>; its outcome goes back to the sender.</summary>
    private Task<T> RunAsync<T>(TimeSpan latency, Func<T> statement)
    {
        var outcome = new TaskCompletionSource<T>();
        world.At(latency, _database, () =>
        {
            try
            {
                outcome.SetResult(statement());
            }
            catch (Exception exception)
            {
                outcome.SetException(exception);
            }
        });
        return outcome.Task;
    }
}

public sealed class SimStorageException(string message) : Exception(message);

public sealed class SimConflictException() : Exception("version conflict");

/// <summary>An edge process as the grains see it (an observer reference): every call crosses the network.</summary>
/// <summary>
/// An edge as a lease holder (an observer reference): once the edge was expelled and took another one, calls to it
/// fail, as calls to a deleted observer do.
/// </summary>
public sealed class SimEdgeReference(SimNetwork network, SimEdge edge, int number) : IDecisionLeaseHolder
{
    public SimEdge Edge => edge;

    public bool Deleted { get; set; }

    public Task Revoke(string storeId, string subjectId) => Deliver(() =>
    {
        edge.Process.World.Log($"{edge.Process}: revoke {subjectId}");
        // As DecisionCache.Revoke.
        edge.Leases.Revoke(SubjectKey.Of(storeId, subjectId));
        edge.Absences.AddPresent(storeId, subjectId);
    }, revocation: true);

    public Task AddPresent(string storeId, string subjectId) => Deliver(() =>
    {
        edge.Process.World.Log($"{edge.Process}: {subjectId} is present");
        edge.Absences.AddPresent(storeId, subjectId);
    }, revocation: false);

    public Task RevokeAbsence(string storeId) => Deliver(() => edge.Absences.Revoke(storeId), revocation: true);

    /// <summary>A revocation the edge drops (<see cref="SimEdge.DropsRevocations"/>) is never confirmed, as by a handler that hangs.</summary>
    private Task Deliver(Action handle, bool revocation) => network.Call(edge.Process, async () =>
    {
        if (Deleted)
        {
            throw new SimRerouteException();
        }

        if (revocation && edge.DropsRevocations)
        {
            edge.Process.World.Log($"{edge.Process}: drops a revocation");
            return await new TaskCompletionSource<bool>().Task;
        }

        handle();
        return true;
    });

    public override string ToString() => number == 0 ? edge.Process.Name : $"{edge.Process.Name}#{number}";
}

/// <summary>Per-silo services of the grant side, as the silo's DI container holds them.</summary>
public sealed class SimSilo
{
    /// <summary>As <c>MembershipConfirmation.Period</c>.</summary>
    public static readonly TimeSpan ConfirmationPeriod = TimeSpan.FromMilliseconds(100);

    private readonly SimCluster _cluster;

    public SimSilo(SimCluster cluster, string name)
    {
        _cluster = cluster;
        Process = new SimProcess(cluster.World, name);
        Unresponsive = new UnresponsiveHolders(cluster.World.Clock);
        Registered = new RegisteredHolders(cluster.World.Clock, () => cluster.Network.Call(cluster.Control.Silo, () => cluster.Control.GetHolders()));
        Expulsions = new HolderExpulsions(cluster.World.Clock,
            holder => cluster.Network.Call(cluster.Control.Silo, () => cluster.Control.Expel(holder)).WaitAsync(cluster.CheckTimeout, cluster.World.Clock));
        Fence = new MembershipFence(cluster.World.Clock, cluster.FenceValidity);
        if (cluster.Fenced)
        {
            Process.Run(ConfirmLoopAsync);
        }
    }

    public SimProcess Process { get; }

    public MembershipFence Fence { get; }

    /// <summary>As <c>MembershipFenceFilter</c>: a call runs, and its answer (or failure) leaves, only while the fence is fresh.</summary>
    public async Task<T> AnswerAsync<T>(Func<Task<T>> handler)
    {
        if (!_cluster.Fenced)
        {
            return await handler();
        }

        Task<T>? call = null;
        await Fence.RunAsync(() => call = handler(), ShopAstro.Silo.Fencing.MembershipFenceFilter.Patience);
        return await call!;
    }

    /// <summary>
    /// As <c>MembershipConfirmation</c>: reads this silo's membership row now and then; the read sees the table at some
    /// moment between its start and its answer; a silo that finds itself dead stops (Orleans ends the process).
    /// </summary>
    private async Task ConfirmLoopAsync()
    {
        var clock = _cluster.World.Clock;
        var random = _cluster.World.Random;
        while (Process.Alive)
        {
            var startedAt = clock.GetTimestamp();
            await Task.Delay(TimeSpan.FromTicks(1_000 + random.Next(20_000)), clock);
            var dead = _cluster.DeclaredDead(this);
            await Task.Delay(TimeSpan.FromTicks(1_000 + random.Next(20_000)), clock);
            if (dead)
            {
                _cluster.World.Log($"{Process}: reads itself dead, stops");
                Fence.Disown();
                Process.Kill();
                return;
            }

            Fence.Confirmed(startedAt);
            await Task.Delay(ConfirmationPeriod, clock);
        }
    }

    public UnresponsiveHolders Unresponsive { get; }

    public RegisteredHolders Registered { get; }

    public HolderExpulsions Expulsions { get; }

    public LeaseGrants NewGrants(SimCluster cluster) =>
        new(new LeaseGrantSettings(cluster.World.Clock, cluster.RevokeTimeout, Registered, Unresponsive, Expulsions), IgnoredLeaseFailures.Instance);
}

/// <summary>A FIFO turn: the one-at-a-time execution of a grain's non-interleaving calls.</summary>
public sealed class SimTurn
{
    private Task _tail = Task.CompletedTask;

    public async Task<T> RunAsync<T>(Func<Task<T>> work)
    {
        var previous = _tail;
        var done = new TaskCompletionSource();
        _tail = done.Task;
        try
        {
            await previous;
            return await work();
        }
        finally
        {
            done.SetResult();
        }
    }
}
