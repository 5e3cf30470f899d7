using ShopAstro.Coherence;
using ShopAstro.Grains;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Tests.Coherence.Simulation;

/// <summary>The operations a client sends to a subject grain.</summary>
public enum SimOp
{
    Grant,
    Withdraw,
    GrantOther,
    Minor,
    LiftMinor,
    Cancel,
    Erase,
}

/// <summary>The call reached an activation that had deactivated: Orleans would route it to a new one.</summary>
public sealed class SimRerouteException() : Exception("activation gone");

/// <summary>
/// One activation of a subject grain, using the protocol exactly as <c>SubjectGrain</c> does: the record in memory,
/// <see cref="SubjectLeases"/> for the decision leases, its copy of the store's policy under a policy lease
/// (<see cref="PolicyCopy"/>), writes through the storage before any acknowledgement.
/// </summary>
public sealed class SimSubject : IPolicyLeaseSource
{
    private readonly SimCluster _cluster;
    private readonly SimTurn _turn = new();
    private readonly PolicyCopy _policy;
    private int? _version;
    private bool _presentConfirmed;

    public SimSubject(SimCluster cluster, string id, SimSilo silo)
    {
        _cluster = cluster;
        Id = id;
        Silo = silo;
        Leases = new SubjectLeases(cluster.World.Clock, silo.NewGrants(cluster), cluster.Fenced ? silo.Fence : null);
        _policy = new PolicyCopy(cluster.World.Clock, this);
        var activated = new TaskCompletionSource();
        Activation = activated.Task;
        silo.Process.Run(async () =>
        {
            try
            {
                await ActivateAsync();
                activated.SetResult();
            }
            catch (Exception exception)
            {
                Deactivated = true;
                activated.SetException(exception);
            }
        });
    }

    public string Id { get; }

    public SimSilo Silo { get; }

    public SubjectLeases Leases { get; }

    public SubjectRecord State { get; private set; } = SubjectRecord.Empty;

    public Task Activation { get; }

    public bool Deactivated { get; private set; }

    private async Task ActivateAsync()
    {
        var (version, record) = await _cluster.Storage.ReadAsync(Id);
        _cluster.World.Log($"{Silo.Process}/{Id}: activated, read {record?.LastWrittenAt?.Ticks % 100000} {record?.Status}");
        _version = version;
        State = record ?? SubjectRecord.Empty;
        Leases.Activated();
        if (record is null)
        {
            Leases.EarlierActivationsLeasedNoRecord();
        }

        await _policy.RefreshAsync();
    }

    /// <summary>As <c>StoreGrain.AcquirePolicyLease</c>, asked by <see cref="PolicyCopy"/>.</summary>
    Task<PolicyLease> IPolicyLeaseSource.AcquirePolicyLeaseAsync(PolicyStamp? held)
    {
        var control = _cluster.Control;
        var present = _version is not null;
        return _cluster.Network.Call(control.Silo, () => control.AcquirePolicyLeaseAsync(Id, present, held)).WaitAsync(_cluster.CheckTimeout, _cluster.World.Clock);
    }

    /// <summary>As <c>SubjectGrain</c>: with a record, the store's index names it (and says how long an edge may still decide it as absent).</summary>
    void IPolicyLeaseSource.Received(PolicyLease lease)
    {
        _presentConfirmed |= _version is not null;
        AbsentViewsFor(lease.AbsentViewFor);
    }

    private async Task ReadyAsync()
    {
        await Activation;
        if (Deactivated)
        {
            throw new SimRerouteException();
        }
    }

    /// <summary>As <c>LeasedSubjectGrain.LeaseDecisions</c> (interleaving, <see cref="SubjectLeases.ReadWhenStoredAsync"/>).</summary>
    public async Task<DecisionLease> LeaseDecisionsAsync(IDecisionLeaseHolder holder)
    {
        await ReadyAsync();
        return await Leases.ReadWhenStoredAsync(Grant, holder, policy: null);

        DecisionLease Grant(IDecisionLeaseHolder holder)
        {
            var lease = Leases.Grant(holder, State);
            _cluster.World.Log($"{Silo.Process}/{Id}: lease to {holder} of {State.LastWrittenAt?.Ticks % 100000} {State.Status} for {lease.Duration.TotalMilliseconds} ms");
            return lease;
        }
    }

    /// <summary>As <c>SubjectGrain.Decide</c> (interleaving, <see cref="SubjectLeases.ReadWhenStoredAsync"/>).</summary>
    public async Task<(SubjectRecord Record, StorePolicy? Policy)> DecideAsync()
    {
        await ReadyAsync();
        return await Leases.ReadWhenStoredAsync(static subject => (subject.State, subject._policy.Policy), this, _policy);
    }

    /// <summary>
    /// As <c>LeasedSubjectGrain.OnPolicyChanged</c> (interleaving): pushed by the store; decision leases carry no policy
    /// and stay.
    /// </summary>
    public async Task<bool> OnPolicyChangedAsync(StorePolicy policy)
    {
        await ReadyAsync();
        _cluster.World.Log($"{Silo.Process}/{Id}: policy {policy.Version} pushed");
        _policy.Accept(policy);
        return true;
    }

    /// <summary>A client's write <paramref name="id"/>, stored only before <paramref name="deadline"/> (as <c>DurableState</c> refuses after a call's deadline).</summary>
    public Task<SubjectRecord> WriteAsync(SimOp op, int id, long deadline) => _turn.RunAsync(async () =>
    {
        await ReadyAsync();
        var state = State;
        if (op != SimOp.Erase && (state.Status == SubjectStatus.Cancelled || (state.Status == SubjectStatus.Minor && op != SimOp.LiftMinor)))
        {
            await SettleAsync();
            return state;
        }

        var stamp = _cluster.History.NewStamp();
        SubjectRecord next;
        switch (op)
        {
            case SimOp.Grant or SimOp.Withdraw or SimOp.GrantOther:
                // As SetConsents: a choice refers to the policy in force.
                await _policy.EnsureAsync();
                var purpose = op == SimOp.GrantOther ? Purpose.Recommendation : Purpose.Analytics;
                var choice = new ConsentChoice(op != SimOp.Withdraw, 1, stamp, ConsentSource.Api, false, false);
                next = state with { Status = SubjectStatus.Active, Consents = state.Consents.SetItem(purpose, choice), LastWrittenAt = stamp };
                break;
            case SimOp.Minor or SimOp.Cancel:
                next = new SubjectRecord { Status = op == SimOp.Minor ? SubjectStatus.Minor : SubjectStatus.Cancelled, LastWrittenAt = stamp };
                break;
            case SimOp.LiftMinor:
                if (state.Status != SubjectStatus.Minor)
                {
                    await SettleAsync();
                    return state;
                }

                next = state with { Status = SubjectStatus.Active, LastWrittenAt = stamp };
                break;
            default:
                if (_version is null)
                {
                    await SettleAsync();
                    return state;
                }

                // Cancellation and minority outlive a deletion (a tombstone); otherwise the row goes.
                next = state.Status is SubjectStatus.Cancelled or SubjectStatus.Minor
                    ? new SubjectRecord { Status = state.Status, LastWrittenAt = stamp }
                    : SubjectRecord.Empty with { LastWrittenAt = stamp };
                break;
        }

        await PersistAsync(next, clear: op == SimOp.Erase && next.Status == SubjectStatus.Active, explicitRoute: op == SimOp.LiftMinor, id, deadline);
        return next;
    });

    /// <summary>As <c>SubjectGrain.Persist</c> / <c>ClearAll</c>: durable, then the index, then the revocation.</summary>
    /// <remarks>A deletion of the row as <c>SubjectGrain.ClearAll</c>: every lease revoked or waited out before it.</remarks>
    private async Task PersistAsync(SubjectRecord next, bool clear, bool explicitRoute, int id, long deadline)
    {
        if (clear)
        {
            await Leases.DeleteAsync(async () =>
            {
                await WriteAsync();
                Deactivate();
            }, Revoke);
            return;
        }

        await Leases.ChangeAsync(async () =>
        {
            var before = await WriteAsync();
            await EnsurePresentAsync();
            return SubjectLeases.Restricts(before, next);
        }, Revoke);

        async Task<SubjectRecord> WriteAsync()
        {
            if (_cluster.World.Clock.Ticks >= deadline)
            {
                // As DurableState: nothing written, nothing changed, the activation stays.
                throw new SimStorageException("the call's deadline had passed");
            }

            var before = State;
            State = next;
            try
            {
                _version = await _cluster.Storage.WriteAsync(Id, _version, next, clear, before, explicitRoute, id);
            }
            catch
            {
                // DurableState: the previous state stays in memory, and the activation goes; LeasedSubjectGrain.StoreAsync:
                // nothing more is read from it.
                State = before;
                Leases.StateUnknown();
                Deactivate();
                throw;
            }

            return before;
        }
    }

    private Task Revoke(IDecisionLeaseHolder holder) => holder.Revoke(SimCluster.StoreId, Id);

    private Task SettleAsync() => Leases.SettleAsync(EnsurePresentAsync, Revoke);

    /// <summary>As <c>LeasedSubjectGrain.EnsurePresentAsync</c>.</summary>
    private async Task EnsurePresentAsync()
    {
        if (!_presentConfirmed && _version is not null)
        {
            var control = _cluster.Control;
            var restrictiveAgainstAbsent = SubjectLeases.Restricts(SubjectRecord.Empty, State);
            AbsentViewsFor(await _cluster.Network.Call(control.Silo, () => control.MarkPresentAsync(Id, restrictiveAgainstAbsent))
                .WaitAsync(_cluster.WriteTimeout, _cluster.World.Clock));
            _presentConfirmed = true;
        }
    }

    private void AbsentViewsFor(TimeSpan remaining)
    {
        if (remaining > TimeSpan.Zero)
        {
            Leases.AbsentViewsUntil(_cluster.World.Clock.GetTimestamp() + remaining.Ticks);
        }
    }

    public void Deactivate()
    {
        Deactivated = true;
        _cluster.Forget(this);
    }
}

/// <summary>The store grain (policy, policy leases, absence leases) and the lease holder registry, on one silo of their own.</summary>
public sealed class SimControl
{
    private readonly SimCluster _cluster;

    // The policy versions as stored: leases hand out the one in force (as StoreGrain._stored).
    private StoreState _stored;

    // The time of a scheduled version being written (as StoreGrain._pendingEffectiveAt).
    private DateTimeOffset? _pendingEffectiveAt;

    public SimControl(SimCluster cluster, SimSilo silo, SimRegistryState stored, bool earlierActivation)
    {
        _cluster = cluster;
        Silo = silo;
        Registry = new HolderRegistry(cluster.World.Clock, stored.Holders, stored.Expelled);
        Stored = stored;
        Absence = new AbsenceIndex(cluster.World.Clock, cluster.DecisionLease, silo.NewGrants(cluster));
        _stored = cluster.Storage.State;
        PolicyLeases = new PolicyLeases(cluster.World.Clock, cluster.PolicyLease);
        PolicyLeases.Activated(earlierActivation);
        silo.Process.Run(() =>
        {
            Absence.Activated();
            // As StoreGrain.ReadIndex: only once an earlier activation's absence leases have run out.
            cluster.World.At(cluster.DecisionLease, silo.Process, () => Absence.Loaded(cluster.Storage.SubjectsWithRecords.ToList()));
            return Task.CompletedTask;
        });
    }

    public SimSilo Silo { get; }

    public SimProcess Process => Silo.Process;

    public HolderRegistry Registry { get; }

    public AbsenceIndex Absence { get; }

    public PolicyLeases PolicyLeases { get; }

    /// <summary>The registry's stored state (survives the silo).</summary>
    public SimRegistryState Stored { get; private set; }

    public Task<IDecisionLeaseHolder[]> GetHolders() => Task.FromResult(Registry.Live());

    /// <summary>As <c>LeaseHolderRegistryGrain.Register</c>: false for an expelled holder.</summary>
    public Task<bool> Register(IDecisionLeaseHolder holder)
    {
        if (Registry.IsExpelled(holder))
        {
            _cluster.World.Log($"{Process}: registration of {holder} refused (expelled)");
            return Task.FromResult(false);
        }

        if (Registry.Register(holder))
        {
            Save();
        }

        return Task.FromResult(true);
    }

    /// <summary>As <c>LeaseHolderRegistryGrain.Expel</c>: stored before it answers.</summary>
    public Task<TimeSpan> Expel(IDecisionLeaseHolder holder)
    {
        var remaining = Registry.Expel(holder, out var store);
        if (store)
        {
            Save();
        }

        _cluster.World.Log($"{Process}: expelled {holder}, usable for {remaining.TotalMilliseconds} ms more");
        return Task.FromResult(remaining);
    }

    private void Save()
    {
        var (holders, expelled) = Registry.Snapshot();
        Stored = new SimRegistryState(holders, expelled);
        Registry.Stored(holders);
    }

    public Task<AbsenceLease> LeaseAbsence(IDecisionLeaseHolder holder, Guid epoch, int since)
    {
        var lease = Absence.Lease(holder, Current, epoch, since, LeaseFor(_cluster.DecisionLease));
        _cluster.World.Log($"{Process}: absence lease to {holder} ({lease.Duration.TotalMilliseconds} ms, present {string.Join(",", lease.Present)}, delta {lease.Delta})");
        return Task.FromResult(lease);
    }

    public async Task<TimeSpan> MarkPresentAsync(string subject, bool restrictive)
    {
        _cluster.World.Log($"{Process}: mark {subject} present (restrictive {restrictive})");
        var absentFor = await Absence.MarkPresentAsync(subject, restrictive, holder => holder.AddPresent(SimCluster.StoreId, subject));
        _cluster.World.Log($"{Process}: marked {subject} present, absent views for {absentFor.TotalMilliseconds} ms");
        return absentFor;
    }

    /// <summary>As <c>StoreGrain.AcquirePolicyLease</c> (interleaving).</summary>
    public async Task<PolicyLease> AcquirePolicyLeaseAsync(string subject, bool present, PolicyStamp? held)
    {
        var lease = LeaseFor(_cluster.PolicyLease);
        PolicyLeases.Granted(subject, lease);
        var current = Current;
        var policy = current.IsNamedBy(held) ? null : current;
        if (present && !Absence.Contains(subject))
        {
            // A repair of the index: the subject learns how long an edge may still decide it as absent.
            return new PolicyLease(policy, lease, await MarkPresentAsync(subject, restrictive: false));
        }

        return new PolicyLease(policy, lease);
    }

    /// <summary>
    /// As <c>StoreGrain.PublishPolicy</c> (a version in force at once): durable first (a failed write takes the store
    /// grain with it, as DurableState deactivates it), then pushed to every policy-lease holder and every absence
    /// lease revoked, unreached ones waited out, before the acknowledgement.
    /// </summary>
    public async Task<StorePolicy> PublishAsync()
    {
        var stored = _stored;
        var folded = stored.FoldedAt(_cluster.World.Clock.GetUtcNow());
        if (!folded.Scheduled.IsEmpty)
        {
            // As StoreGrain: a version cannot take effect before one scheduled earlier.
            throw new SimConflictException();
        }

        var next = Next(folded, effectiveAt: null);
        var written = folded with { Policy = next, History = folded.History.Add(next) };
        try
        {
            await _cluster.Storage.WritePolicyAsync(written, stored, next);
        }
        catch
        {
            _cluster.ReactivateControl(this);
            throw;
        }

        _stored = written;
        _cluster.World.Log($"{Process}: policy {next.Version} stored, pushing to {PolicyLeases.Count} holders");
        await PolicyLeases.PushAsync(subject =>
        {
            var activation = _cluster.Route(subject);
            return _cluster.Network.Call(activation.Silo, () => activation.OnPolicyChangedAsync(next));
        }, _cluster.PolicyPushTimeout, _ => { });
        await Absence.SettleAsync(await Absence.RevokeAsync(holder => holder.RevokeAbsence(SimCluster.StoreId)));
        _cluster.World.Log($"{Process}: policy {next.Version} published");
        return next;
    }

    /// <summary>
    /// As <c>StoreGrain.PublishPolicy</c> with an effective time <see cref="SimCluster.ScheduleLead"/> ahead (more than a
    /// policy lease): stored and acknowledged at once, in force at that instant with nobody told then. Every policy and
    /// absence lease ends no later than the instant, from the moment the write starts.
    /// </summary>
    public async Task<StorePolicy> ScheduleAsync()
    {
        var stored = _stored;
        var now = _cluster.World.Clock.GetUtcNow();
        var folded = stored.FoldedAt(now);
        var next = Next(folded, now + _cluster.ScheduleLead);
        var written = folded with { Scheduled = folded.Scheduled.Add(next) };
        _pendingEffectiveAt = next.EffectiveAt;
        try
        {
            await _cluster.Storage.WritePolicyAsync(written, stored, next);
        }
        catch
        {
            _cluster.ReactivateControl(this);
            throw;
        }
        finally
        {
            _pendingEffectiveAt = null;
        }

        _stored = written;
        _cluster.World.Log($"{Process}: policy {next.Version} scheduled");
        return next;
    }

    private StorePolicy Current => _stored.CurrentAt(_cluster.World.Clock.GetUtcNow())!;

    /// <summary>The next version after the latest one stored (the store's status flipped: every version is restrictive).</summary>
    private StorePolicy Next(StoreState stored, DateTimeOffset? effectiveAt)
    {
        var latest = stored.Latest!;
        return latest with
        {
            Version = latest.Version + 1,
            Status = latest.Status == StoreStatus.Active ? StoreStatus.Suspended : StoreStatus.Active,
            PublishedAt = _cluster.History.NewStamp(),
            EffectiveAt = effectiveAt,
        };
    }

    /// <summary>As <c>StoreGrain.LeaseFor</c>: no lease outlives the next scheduled version's instant, or one being written.</summary>
    private TimeSpan LeaseFor(TimeSpan lease) => _stored.LeaseAt(_cluster.World.Clock.GetUtcNow(), lease, _pendingEffectiveAt);
}

/// <summary>The lease holder registry's stored state.</summary>
public sealed record SimRegistryState(IReadOnlyList<IDecisionLeaseHolder> Holders, IReadOnlyList<ExpelledHolder> Expelled)
{
    public static SimRegistryState Empty { get; } = new([], []);
}

/// <summary>An edge process: the holder side exactly as <c>DecisionCache</c> uses it.</summary>
public sealed class SimEdge
{
    private readonly SimCluster _cluster;

    public SimEdge(SimCluster cluster, string name)
    {
        _cluster = cluster;
        Process = new SimProcess(cluster.World, name);
        var clock = cluster.World.Clock;
        Epoch = new HolderEpoch(clock);
        Reference = new SimEdgeReference(cluster.Network, this, 0);
        // As DecisionCacheOptions.LeaseBatchesInFlight: each request a call of its own, or batches through a gateway silo.
        var batchesInFlight = cluster.World.Random.Next(3);
        var batchTimeout = TimeSpan.Parse(CallTimeouts.LeaseBatch, System.Globalization.CultureInfo.InvariantCulture);
        // As DecisionCacheOptions.MaxSubjects: in one schedule of three, one lease at most, so that leases are dropped.
        var capacity = cluster.World.Random.Next(3) == 0 ? 1 : int.MaxValue;
        Leases = new HeldLeases(clock, Epoch, batchesInFlight == 0
            ? key => LeaseOne(Reference, key)
            : new LeaseRequestBatches(asks => LeaseBatch(Reference, asks), batchesInFlight, clock, LeaseRequestBatches.DefaultSlowAfter).RequestAsync,
            capacity);
        Task<DecisionLease> LeaseOne(SimEdgeReference holder, string key)
        {
            var subject = cluster.Route(SubjectKey.Parse(key).SubjectId);
            return cluster.Network.Call(subject.Silo, () => subject.LeaseDecisionsAsync(holder)).WaitAsync(cluster.CheckTimeout, clock);
        }

        // As IDecisionLeaseBatchGrain: a stateless worker in the gateway silo asks each subject's activation.
        Task<LeaseAnswer[]> LeaseBatch(SimEdgeReference holder, LeaseAsk[] asks)
        {
            var gateway = cluster.Gateway();
            return cluster.Network.Call(gateway, () => LeaseBatchAnswers.AnswerEachAsync(asks, ask => new ValueTask<DecisionLease>(LeaseOne(holder, ask.Key))))
                .WaitAsync(batchTimeout, clock);
        }
        Absences = new HeldAbsences(clock, Epoch, (_, epoch, since) =>
        {
            var control = cluster.Control;
            var holder = Reference;
            return cluster.Network.Call(control.Silo, () => control.LeaseAbsence(holder, epoch, since)).WaitAsync(cluster.CheckTimeout, clock);
        }, (_, _) => { });
        Inputs = new HeldDecisionInputs(clock, Leases, Absences);
        Process.Run(RegisterLoopAsync);
    }

    public SimProcess Process { get; }

    public HolderEpoch Epoch { get; }

    public HeldLeases Leases { get; }

    public HeldAbsences Absences { get; }

    public HeldDecisionInputs Inputs { get; }

    /// <summary>This edge as a lease holder; another one after each expulsion (as <c>DecisionCache.Reference</c>).</summary>
    public SimEdgeReference Reference { get; private set; }

    /// <summary>A fault: revocations reach the edge but are never confirmed, while it renews its registration as usual.</summary>
    public bool DropsRevocations { get; set; }

    private int _references;

    /// <summary>As <c>DecisionCache.RegisterAsync</c>: renewed every 2 s; refused once expelled, then a new reference registers at once.</summary>
    private async Task RegisterLoopAsync()
    {
        var clock = _cluster.World.Clock;
        while (true)
        {
            var sentAt = clock.GetTimestamp();
            var reference = Reference;
            var expelled = false;
            try
            {
                var control = _cluster.Control;
                if (!await _cluster.Network.Call(control.Silo, () => control.Register(reference)).WaitAsync(TimeSpan.FromSeconds(2), clock))
                {
                    // As DecisionCache.Expelled.
                    _cluster.World.Log($"{Process}: expelled as {reference}");
                    Epoch.End();
                    Leases.Clear();
                    Absences.Clear();
                    reference.Deleted = true;
                    Reference = new SimEdgeReference(_cluster.Network, this, ++_references);
                    expelled = true;
                }
                else if (Epoch.Confirmed(sentAt, ILeaseHolderRegistryGrain.Expiry, TimeSpan.FromSeconds(2)))
                {
                    Leases.Clear();
                    Absences.Clear();
                }
            }
            catch (TimeoutException)
            {
            }

            if (!expelled)
            {
                await Task.Delay(TimeSpan.FromSeconds(2), clock);
            }
        }
    }

    /// <summary>A check as <c>DecisionCache.DecideAsync</c> makes it; returns the record (null: no record) and the policy it decided from.</summary>
    public async Task<(SubjectRecord? Record, StorePolicy? Policy)> CheckAsync(string subjectId)
    {
        var startedAt = _cluster.World.Clock.GetTimestamp();
        var key = SubjectKey.Of(SimCluster.StoreId, subjectId);
        if (Inputs.TryGet(SimCluster.StoreId, subjectId, key, out var held, out var heldPolicy, out var absent))
        {
            return (absent ? null : held, heldPolicy);
        }

        if (Epoch.Active)
        {
            var (leased, record, policy) = await Inputs.LeaseAsync(SimCluster.StoreId, key, startedAt);
            if (leased)
            {
                return (record, policy);
            }
        }

        var subject = _cluster.Route(subjectId);
        return await _cluster.Network.Call(subject.Silo, subject.DecideAsync).WaitAsync(_cluster.CheckTimeout, _cluster.World.Clock);
    }
}
