using ShopAstro.Coherence;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Tests.Coherence.Simulation;

/// <summary>
/// A simulated cluster: two subject silos, one silo with the store grain and the lease holder registry, three edges,
/// the consent store, and a client; a workload of grants, withdrawals, minors, cancellations and erasures beside
/// checks on every edge, with faults injected at random (message loss and delay, write failures before and after the
/// commit, silo kills, edge pauses and kills, partitions, duplicate activations).
/// </summary>
public sealed class SimCluster
{
    public const string StoreId = "s";

    private readonly Dictionary<string, List<SimSubject>> _activations = [];
    private readonly HashSet<SimSilo> _declaredDead = [];
    private int _writes;
    private readonly SimFaults _faults;

    /// <param name="fenced">Whether silos answer only under a confirmed membership (<see cref="MembershipFence"/>); off only to show what it prevents.</param>
    /// <param name="deadlines">Whether writes carry a deadline (<see cref="CallDeadline"/>); off only to show what it prevents.</param>
    public SimCluster(int seed, SimFaults faults, int subjects = 3, int edges = 3, bool fenced = true, bool deadlines = true)
    {
        World = new SimWorld(seed);
        _faults = faults;
        Fenced = fenced;
        Deadlines = deadlines;
        History = new SimHistory(World.Clock);
        Network = new SimNetwork(World, faults);
        Storage = new SimStorage(World, faults, History);
        Storage.InitialPolicy(Policy);
        Client = new SimProcess(World, "client");
        Control = new SimControl(this, new SimSilo(this, "control"), SimRegistryState.Empty, earlierActivation: false);
        Silos = [new SimSilo(this, "silo1"), new SimSilo(this, "silo2")];
        Edges = [.. Enumerable.Range(1, edges).Select(i => new SimEdge(this, $"edge{i}"))];
        Subjects = [.. Enumerable.Range(1, subjects).Select(i => $"u{i}")];
    }

    public SimWorld World { get; }

    public SimHistory History { get; }

    public SimNetwork Network { get; }

    public SimStorage Storage { get; }

    public SimProcess Client { get; }

    public SimControl Control { get; private set; }

    public List<SimSilo> Silos { get; }

    public List<SimEdge> Edges { get; }

    public List<string> Subjects { get; }

    /// <summary>A subject that is checked but never written (no record: absence leases decide it).</summary>
    public string NeverWritten => "n1";

    public StorePolicy Policy { get; } = new(1, StoreStatus.Active, true,
        System.Collections.Immutable.ImmutableDictionary<Purpose, PurposeSetting>.Empty
            .Add(Purpose.Analytics, new PurposeSetting(true, false)).Add(Purpose.Recommendation, new PurposeSetting(true, false)),
        System.Collections.Immutable.ImmutableDictionary<Purpose, int>.Empty, DateTimeOffset.UnixEpoch);

    public TimeSpan DecisionLease { get; } = TimeSpan.FromSeconds(5);

    public TimeSpan PolicyLease { get; } = TimeSpan.FromSeconds(10);

    public TimeSpan PolicyPushTimeout { get; } = TimeSpan.FromSeconds(2);

    /// <summary>How far ahead a version is scheduled: more than a policy lease, as the store requires.</summary>
    public TimeSpan ScheduleLead => PolicyLease + TimeSpan.FromSeconds(1);

    /// <summary>Orleans' default response timeout: a publish waits out unreached holders.</summary>
    public TimeSpan PublishTimeout { get; } = TimeSpan.FromSeconds(30);

    public TimeSpan RevokeTimeout { get; } = TimeSpan.FromSeconds(1);

    public TimeSpan CheckTimeout { get; } = TimeSpan.FromSeconds(2);

    public bool Fenced { get; }

    public bool Deadlines { get; }

    /// <summary>As <c>ClusterSettings.FenceValidity</c>.</summary>
    public TimeSpan FenceValidity { get; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// The quickest death declaration after a silo stops answering (as with this cluster's Orleans settings: a probe
    /// sent just before it stopped fails a <c>ProbeTimeout</c> later, then one more); the slowest is two seconds more.
    /// </summary>
    public TimeSpan QuickestDeathDeclaration { get; } = TimeSpan.FromSeconds(1);

    public TimeSpan WriteTimeout { get; } = TimeSpan.FromSeconds(10);

    /// <summary>Faults injected so far, by kind.</summary>
    public Dictionary<string, int> Injected { get; } = [];

    /// <summary>The activation a call for <paramref name="subject"/> goes to (the directory; a new one if none is live).</summary>
    public SimSubject Route(string subject)
    {
        if (!_activations.TryGetValue(subject, out var live))
        {
            _activations[subject] = live = [];
        }

        live.RemoveAll(a => a.Deactivated || !a.Silo.Process.Alive);
        if (live.TrueForAll(a => DeclaredDead(a.Silo)))
        {
            // The directory places a new activation on a silo not declared dead; an activation on a silo declared dead
            // (paused, not yet told) stays reachable by calls that still route to it until that silo stops.
            var silos = Silos.Where(s => s.Process.Alive && !DeclaredDead(s)).ToList();
            live.Add(new SimSubject(this, subject, silos[World.Random.Next(silos.Count)]));
        }

        return live[World.Random.Next(live.Count)];
    }

    /// <summary>The silo a client's call enters by: any live one not declared dead.</summary>
    public SimSilo Gateway()
    {
        var gateways = Silos.Where(s => s.Process.Alive && !DeclaredDead(s)).ToList();
        return gateways[World.Random.Next(gateways.Count)];
    }

    /// <summary>Whether the membership table names <paramref name="silo"/> dead.</summary>
    public bool DeclaredDead(SimSilo silo) => _declaredDead.Contains(silo);

    public void Forget(SimSubject activation) => _activations.GetValueOrDefault(activation.Id)?.Remove(activation);

    /// <summary>
    /// A write from the client, through a gateway (a silo that forwards it to the subject's activation, as an Orleans
    /// client's call goes): recorded with its start and end, acknowledged or not. It carries a deadline (as
    /// <c>CallDeadlineFilter</c> gives it): its timeout from its start, less <see cref="CallDeadline.Margin"/>.
    /// </summary>
    public Task<SubjectRecord?> WriteAsync(string subject, SimOp op)
    {
        var id = ++_writes;
        var deadline = Deadlines ? World.Clock.Ticks + (WriteTimeout - CallDeadline.Margin).Ticks : long.MaxValue;
        var gateway = Gateway();
        return FromClient(
            () => Network.Call(gateway.Process, () =>
            {
                // The gateway finds the activation when it forwards: after a pause, that is the one in place then.
                var activation = Route(subject);
                return Network.Call(activation.Silo, () => activation.WriteAsync(op, id, deadline));
            }).WaitAsync(WriteTimeout, World.Clock),
            static exception => exception is TimeoutException or SimStorageException or SimConflictException or SimRerouteException,
            (start, result) =>
            {
                History.Wrote(subject, start, result, id);
                World.Log($"client: {op} {subject} -> {(result is null ? "failed" : $"ack {result.LastWrittenAt?.Ticks % 100000} {result.Status}")}");
            });
    }

    /// <summary>
    /// A call from the client, run in its process: <paramref name="record"/> gets its start and its answer (null when it
    /// failed in one of the ways <paramref name="failed"/> names, which the world allows).
    /// </summary>
    private Task<T?> FromClient<T>(Func<Task<T>> call, Func<Exception, bool> failed, Action<long, T?> record)
        where T : class
    {
        var done = new TaskCompletionSource<T?>();
        Client.Run(async () =>
        {
            var start = World.Clock.Ticks;
            T? result = null;
            try
            {
                result = await call();
            }
            catch (Exception exception) when (failed(exception))
            {
            }

            record(start, result);
            done.SetResult(result);
        });
        return done.Task;
    }

    /// <summary>A check on <paramref name="edge"/>, recorded with its start and end and the state and policy it answered from.</summary>
    public Task<SubjectRecord?> CheckAsync(SimEdge edge, string subject)
    {
        var done = new TaskCompletionSource<SubjectRecord?>();
        edge.Process.Run(async () =>
        {
            var start = World.Clock.Ticks;
            try
            {
                var (answer, policy) = await edge.CheckAsync(subject);
                History.Checked(edge.Process.Name, subject, start, answer, policy, failed: false);
                World.Log($"{edge.Process}: check {subject} -> {answer?.LastWrittenAt?.Ticks % 100000} {answer?.Status} under policy {policy?.Version}");
                done.SetResult(answer);
            }
            catch (Exception exception) when (exception is TimeoutException or SimRerouteException or SimStorageException)
            {
                History.Checked(edge.Process.Name, subject, start, null, null, failed: true);
                done.SetResult(null);
            }
        });
        return done.Task;
    }

    /// <summary>
    /// A version scheduled by the client <see cref="ScheduleLead"/> ahead, recorded as acknowledged at its instant if its
    /// publish was (a version in force at an instant is promised exactly).
    /// </summary>
    public Task<StorePolicy?> ScheduleAsync() => FromSeller(static control => control.ScheduleAsync, History.Scheduled,
        static result => $"schedule -> ack {result.Version} {result.Status} at {result.EffectiveAt!.Value.Ticks % 1_000_000_000}");

    /// <summary>A policy publish from the client (the next version, the store's status flipped), recorded with its start and end.</summary>
    public Task<StorePolicy?> PublishAsync() => FromSeller(static control => control.PublishAsync, History.Published,
        static result => $"publish -> ack {result.Version} {result.Status}");

    /// <summary>A call of the seller to the store grain's activation in place, recorded in the history and the trace.</summary>
    private Task<StorePolicy?> FromSeller(
        Func<SimControl, Func<Task<StorePolicy>>> call, Action<long, StorePolicy?> record, Func<StorePolicy, string> acknowledged) => FromClient(
        () =>
        {
            var control = Control;
            return Network.Call(control.Silo, call(control)).WaitAsync(PublishTimeout, World.Clock);
        },
        static exception => exception is TimeoutException or SimStorageException or SimConflictException,
        (start, result) =>
        {
            record(start, result);
            World.Log($"client: {(result is null ? "policy call failed" : acknowledged(result))}");
        });

    /// <summary>From a process of the simulation: resumes after <paramref name="duration"/> of simulated time.</summary>
    public Task Wait(TimeSpan duration) => Task.Delay(duration, World.Clock);

    public void Run(TimeSpan duration)
    {
        var end = World.Clock.Ticks + duration.Ticks;
        World.RunUntil(end);
    }

    /// <summary>Counts a fault of <paramref name="kind"/> in <see cref="Injected"/> (and the trace).</summary>
    public void Count(string kind)
    {
        Injected[kind] = Injected.GetValueOrDefault(kind) + 1;
        World.Log($"FAULT {kind}");
    }

    /// <summary>kill -9 of a subject silo; a new one takes its place.</summary>
    public void KillSilo(SimSilo silo)
    {
        silo.Process.Kill();
        Silos[Silos.IndexOf(silo)] = new SimSilo(this, silo.Process.Name + "'");
        Count("silo kill -9");
    }

    /// <summary>kill -9 of the silo with the store grain and the registry; they come back from storage elsewhere.</summary>
    public void KillControl()
    {
        var stored = Control.Stored;
        Control.Process.Kill();
        Control = new SimControl(this, new SimSilo(this, "control'"), stored, earlierActivation: true);
        Count("store/registry silo kill -9");
    }

    /// <summary>
    /// SIGSTOP of a silo for <paramref name="pause"/>: when it lasts past the death declaration, the cluster replaces the
    /// silo (new activations elsewhere; for the store's silo, a new store activation and registry) while the paused one
    /// keeps its activations and, once resumed, the calls that reached it meanwhile, until it reads itself dead.
    /// </summary>
    public void PauseSilo(SimSilo silo, TimeSpan pause)
    {
        silo.Process.Pause();
        World.At(pause, Client, silo.Process.Resume);
        var declaredAfter = QuickestDeathDeclaration + TimeSpan.FromMilliseconds(World.Random.Next(2_000));
        World.At(declaredAfter, Client, () =>
        {
            if (!silo.Process.Paused || !silo.Process.Alive)
            {
                return;
            }

            _declaredDead.Add(silo);
            if (ReferenceEquals(Control.Silo, silo))
            {
                Control = new SimControl(this, new SimSilo(this, silo.Process.Name + "'"), Control.Stored, earlierActivation: true);
            }
            else if (Silos.IndexOf(silo) is var index and >= 0)
            {
                Silos[index] = new SimSilo(this, silo.Process.Name + "'");
            }

            Count("silo declared dead while paused");
        });
        Count("silo SIGSTOP/SIGCONT");
    }

    /// <summary>
    /// A policy write failed: the store grain deactivates and the next call activates it again from storage. Simulated
    /// as a kill of its silo (harsher: the registry and every call in flight go too).
    /// </summary>
    public void ReactivateControl(SimControl failed)
    {
        if (ReferenceEquals(Control, failed))
        {
            KillControl();
        }
    }

    /// <summary>kill -9 of an edge; a new edge process takes its place (and registers). Returns the new one.</summary>
    public SimEdge KillEdge(SimEdge edge)
    {
        edge.Process.Kill();
        var index = Edges.IndexOf(edge);
        Edges[index] = new SimEdge(this, edge.Process.Name + "'");
        Count("edge kill -9");
        return Edges[index];
    }

    /// <summary>The randomized workload and faults (<see cref="SimWorkload"/>), for <paramref name="duration"/> of simulated time.</summary>
    public void RunWorkload(TimeSpan duration) => new SimWorkload(this, _faults).Run(duration);

    /// <summary>
    /// A second activation of <paramref name="subject"/> on another silo while its first still answers (a directory race),
    /// the first going after a while; nothing when the subject has none or two already.
    /// </summary>
    public void DuplicateActivation(string subject)
    {
        if (_activations.TryGetValue(subject, out var live) && live.Count == 1)
        {
            var other = Silos.FirstOrDefault(s => s != live[0].Silo && s.Process.Alive);
            if (other is null)
            {
                return;
            }

            var duplicate = new SimSubject(this, subject, other);
            live.Add(duplicate);
            var first = live[0];
            World.At(TimeSpan.FromMilliseconds(200 + World.Random.Next(3_000)), Client, first.Deactivate);
            Count("duplicate activation");
        }
    }
}
