using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using ShopAstro.Coherence;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains;

/// <summary>
/// A subject grain as edges lease it: the stored record, the subject's copy of its store's policy, the decision leases
/// granted from both, and the store's index of subjects with a record. This is where a subject grain keeps the
/// protocol of <c>docs/coherence.md</c> (S1, S2): every change goes through <see cref="Change"/> (durable, then the
/// store's index, then every lease revoked, then acknowledged) and every write that changes nothing through
/// <see cref="Settle"/>. What the subject's consent and rights rules are is <see cref="SubjectGrain"/>'s.
/// <para>
/// A base class rather than a member: one object more per activation would cost every subject grain its header and a
/// reference, and subject grains are the cluster's per-grain memory budget.
/// </para>
/// </summary>
internal abstract class LeasedSubjectGrain(SubjectGrainServices services)
    : Grain, IPolicyLeaseSource, ILeaseFailureLog
{
    private PolicyCopy _policy = null!;
    private SubjectLeases _leases = null!;
    private bool _presentConfirmed;

    /// <summary>
    /// The subject's stored record, made with the activation (not injected: an injected grain context is cached in the
    /// activation's service scope).
    /// </summary>
    protected SubjectState Stored { get; private set; } = null!;

    protected SubjectGrainServices Services { get; } = services;

    protected string StoreId { get; private set; } = "";

    /// <summary>The subject's id, made from the grain's key when it is needed (per-grain memory is the budget: not kept).</summary>
    protected string SubjectId => SubjectKey.Parse(this.GetPrimaryKeyString()).SubjectId;

    /// <summary>The committed policy the subject decides under, while <see cref="PolicyExpired"/> is false.</summary>
    protected StorePolicy? Policy => _policy.Policy;

    protected bool PolicyExpired => _policy.Expired;

    private IStoreGrain Store => GrainFactory.Of<IStoreGrain>(StoreId);

    void ILeaseFailureLog.LeaseCallFailed(Exception exception, string what) =>
        Services.Logger.LogWarning(exception, "{StoreId}/{SubjectId}: {What}", StoreId, SubjectId, what);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        Stored = new SubjectState(GrainContext, Services.Storage);
        await Stored.ReadStateAsync();
        // Per-grain memory is the budget (load-tests): one copy of each store id, and no store reference kept.
        StoreId = string.Intern(SubjectKey.Parse(this.GetPrimaryKeyString()).StoreId);
        var time = Services.Time;
        _leases = new SubjectLeases(time, new LeaseGrants(Services.LeaseGrants, this), Services.Fence);
        _leases.Activated();
        if (!Stored.RecordExists)
        {
            _leases.EarlierActivationsLeasedNoRecord();
        }

        _policy = new PolicyCopy(time, this);
        await _policy.RefreshAsync();
    }

    public ValueTask<DecisionLease> LeaseDecisions(IDecisionLeaseHolder holder) =>
        ReadRecordWhenStoredAsync(static request => request.Grain._leases.Grant(request.Holder, request.Grain.Stored.State), (Grain: this, Holder: holder));

    /// <summary>
    /// A read of the stored record and the running policy copy, by a call that interleaves: <paramref name="read"/>
    /// runs once no change is storing or revoking and the copy runs (<see cref="SubjectLeases.ReadWhenStoredAsync"/>).
    /// </summary>
    protected ValueTask<T> ReadWhenStoredAsync<TState, T>(Func<TState, T> read, TState state) =>
        _leases.ReadWhenStoredAsync(read, state, _policy);

    /// <summary>As <see cref="ReadWhenStoredAsync{TState, T}"/>, without the policy (the record handed out, or leased, as it is stored).</summary>
    protected ValueTask<T> ReadRecordWhenStoredAsync<TState, T>(Func<TState, T> read, TState state) =>
        _leases.ReadWhenStoredAsync(read, state, policy: null);

    /// <summary>
    /// A new version, pushed by the store before it acknowledges the publish. Decision leases carry no policy (edges
    /// decide with their store's lease, which the publish revokes), so none is revoked here.
    /// </summary>
    public Task OnPolicyChanged(StorePolicy policy)
    {
        _policy.Accept(policy);
        return Task.CompletedTask;
    }

    /// <summary>Completes once the policy copy runs (see <see cref="PolicyCopy.EnsureAsync"/>).</summary>
    protected Task EnsurePolicyAsync() => _policy.EnsureAsync();

    /// <summary>
    /// A change of what the subject decides: <paramref name="apply"/> makes it durable (calling
    /// <see cref="EnsurePresentAsync"/> after the commit of a record) and says whether it may deny what was allowed;
    /// every lease is then revoked (or waited out) before the change completes. Lease requests wait meanwhile.
    /// </summary>
    protected Task Change(Func<Task<bool>> apply) => _leases.ChangeAsync(apply, Revocation());

    /// <summary>
    /// The deletion of the subject's row: every lease is revoked, and every edge that does not confirm waited out, before
    /// <paramref name="delete"/> runs (see <see cref="SubjectLeases.DeleteAsync"/>).
    /// </summary>
    protected Task Delete(Func<Task> delete) => _leases.DeleteAsync(delete, Revocation());

    /// <summary>
    /// The write of a change (inside <see cref="Change"/> or <see cref="Delete"/>). Should it fail, whether it was
    /// stored is unknown: nothing more is read from this activation (<see cref="SubjectLeases.StateUnknown"/>), which
    /// ends. A write its call's deadline refuses is refused first, before anything is written (<see cref="DurableState"/>):
    /// the state stays known, and the activation stays.
    /// </summary>
    protected async Task StoreAsync(Func<Task> write, string what)
    {
        DurableState.RefuseAfterDeadline(this, what);
        try
        {
            await write();
        }
        catch
        {
            _leases.StateUnknown();
            DeactivateOnIdle();
            throw;
        }
    }

    /// <summary>A write that changes nothing settles what an earlier activation or a failed change may have left out.</summary>
    protected Task Settle() => _leases.SettleAsync(EnsurePresentAsync, Revocation());

    /// <summary>The call that revokes this subject's lease at one holder (the subject's id made once per change).</summary>
    private Func<IDecisionLeaseHolder, Task> Revocation()
    {
        var (storeId, subjectId) = (StoreId, SubjectId);
        return holder => holder.Revoke(storeId, subjectId);
    }

    Task<PolicyLease> IPolicyLeaseSource.AcquirePolicyLeaseAsync(PolicyStamp? held) =>
        Store.AcquirePolicyLease(SubjectId, present: Stored.RecordExists, held);

    void IPolicyLeaseSource.Received(PolicyLease lease)
    {
        _presentConfirmed |= Stored.RecordExists;
        AbsentViewsFor(lease.AbsentViewFor);
    }

    private void AbsentViewsFor(TimeSpan remaining)
    {
        if (remaining > TimeSpan.Zero)
        {
            _leases.AbsentViewsUntil(Services.Time.GetTimestamp() + Services.Time.TimestampTicks(remaining));
        }
    }

    /// <summary>
    /// After the commit of a record, before its acknowledgement: the store's index, and every edge deciding this store's
    /// unknown subjects as absent, name this one. Whether it denies more is judged against no record at all, which is
    /// how those edges decided it.
    /// </summary>
    protected async Task EnsurePresentAsync()
    {
        if (!_presentConfirmed && Stored.RecordExists)
        {
            AbsentViewsFor(await Store.MarkPresent(SubjectId, SubjectLeases.Restricts(SubjectRecord.Empty, Stored.State)));
            _presentConfirmed = true;
        }
    }
}
