using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Coherence;

/// <summary>
/// Grant side of a subject's decision leases (S1 for one subject), owned by its grain activation.
/// <para>
/// Invariant: while a lease on state X may still be used by some edge, a change away from X that may deny
/// what X allowed is not acknowledged. A lease runs until it is revoked (docs/coherence.md, L1): an edge that does
/// not confirm a revocation is expelled and waited out (<see cref="LeaseGrants"/>, L3). Four sources of such leases
/// are covered: leases this activation granted; leases of an earlier activation
/// (<see cref="LeaseGrants.PreviousActivationMayHold"/> until one change reached every registered edge, L4: every
/// change counts as restrictive, since this activation cannot know what they carried); leases still out after a
/// change of this activation failed half way (<see cref="ChangeAsync"/> owes the next change the full wait); and
/// edges that decide the subject as one without a record because they did not hear of its first write
/// (<see cref="AbsentViewsUntil"/>).
/// </para>
/// Lease requests, and the checks the grain answers itself, are held back while a change alters the state and
/// revokes (<see cref="ReadWhenStoredAsync"/>); they interleave with the wait that follows, so that one unreachable
/// edge does not stall the others' checks.
/// </summary>
public sealed class SubjectLeases(TimeProvider time, LeaseGrants grants, MembershipFence? fence = null)
{
    /// <summary>How long a deletion waits for its silo's membership to be confirmed before it fails (as a fenced call does).</summary>
    public static readonly TimeSpan FencePatience = TimeSpan.FromSeconds(5);

    private Task? _changing;
    private bool _owed;
    private bool _earlierLeasedNoRecord;
    private bool _stateUnknown;
    private long _absentViewsUntil;

    /// <summary>A new activation: an earlier one's leases are unknown until a change has reached every registered edge.</summary>
    public void Activated() => grants.Activated(lease: null);

    /// <summary>Set while a change alters the state and revokes: a lease request, and a read, waits for it.</summary>
    public Task? Changing => _changing;

    /// <summary>
    /// A write failed, and whether it was stored is unknown (it may have committed before its failure was seen): the
    /// state in memory, put back to what was stored before, may no longer be what is stored. Nothing is read from this
    /// activation any more (<see cref="ReadWhenStoredAsync"/> throws, S2), not even by a read already waiting; the
    /// activation is ending, and the next one reads the stored state. Found by the simulation: lease requests that had
    /// waited for a deletion whose answer was lost were granted the deleted record, after its row had gone.
    /// </summary>
    public void StateUnknown() => _stateUnknown = true;

    /// <summary>
    /// The activation found no stored record: every lease an earlier activation may have granted carried no record, or
    /// was revoked (or waited out) before that record's row was deleted (<see cref="DeleteAsync"/>). A change is then
    /// judged against no record, as for this activation's own leases, instead of as restrictive whatever it does: a new
    /// shopper's first write does not wait for an edge that died.
    /// </summary>
    public void EarlierActivationsLeasedNoRecord() => _earlierLeasedNoRecord = true;

    private bool EarlierActivationsMayHoldAnyState => grants.PreviousActivationMayHold && !_earlierLeasedNoRecord;

    /// <summary>
    /// Until when an edge may still decide this subject as one with no record (its store could not tell every
    /// absence-lease holder of the first write): a later restrictive change waits for it too.
    /// </summary>
    public void AbsentViewsUntil(long timestamp) => _absentViewsUntil = Math.Max(_absentViewsUntil, timestamp);

    /// <summary>
    /// A read of the subject's state (a lease request, whose read calls <see cref="Grant"/>; a check the grain answers
    /// itself; its record handed out): <paramref name="read"/> runs when no change is altering the state or revoking,
    /// and, given a <paramref name="policy"/> copy, while that copy runs, both judged in the same step as the read (S2: what a
    /// change is writing is in memory before it is stored, and a failed write puts the stored state back within the
    /// gate). Reads interleave with everything else, so a change waiting for an unreachable edge's lease to run out,
    /// which it does after the gate, holds up no check. Without a change to wait for and with a running copy,
    /// <paramref name="read"/> runs before this returns. A lease request passes no policy: the policy is not the
    /// subject's to lease, the edge decides with its store's lease (docs/coherence.md, S1 for policy).
    /// </summary>
    public ValueTask<T> ReadWhenStoredAsync<TState, T>(Func<TState, T> read, TState state, PolicyCopy? policy) =>
        _changing is null && !_stateUnknown && policy is not { Expired: true }
            ? ValueTask.FromResult(read(state))
            : ReadLaterAsync(read, state, policy);

    private async ValueTask<T> ReadLaterAsync<TState, T>(Func<TState, T> read, TState state, PolicyCopy? policy)
    {
        // Judged again after every wait: a change may start, or the copy run out, while the other is awaited.
        while (true)
        {
            if (_stateUnknown)
            {
                throw new StorageUnavailableException("A write of this subject failed with its outcome unknown: its next activation reads the stored state.");
            }

            if (_changing is { } changing)
            {
                await changing;
            }
            else if (policy is { Expired: true })
            {
                await policy.EnsureAsync();
            }
            else
            {
                return read(state);
            }
        }
    }

    /// <summary>A lease of <paramref name="record"/> for <paramref name="holder"/>, until it is revoked.</summary>
    public DecisionLease Grant(IDecisionLeaseHolder holder, SubjectRecord record)
    {
        grants.Grant(holder, long.MaxValue);

        // Receipts are proof, not decision input: they stay in the grain.
        return new DecisionLease(record.Receipts.IsEmpty ? record : record with { Receipts = [] }, DecisionLease.UntilRevoked);
    }

    /// <summary>
    /// A change of what decisions see: <paramref name="apply"/> makes it durable (and says whether it may deny
    /// what was allowed), then every lease is revoked, with lease requests held back meanwhile; a change that may
    /// deny is acknowledged only once no lease an unreachable edge holds can be used any more.
    /// </summary>
    public async Task ChangeAsync(Func<Task<bool>> apply, Func<IDecisionLeaseHolder, Task> revoke)
    {
        // Judged before the change: an earlier activation's leases, or a change that failed half way, may carry any
        // state, so whatever this change does counts as restrictive.
        var mustWait = _owed || EarlierActivationsMayHoldAnyState;
        _owed = true;
        var unrevokedUntil = await WhileChangingAsync(async () =>
        {
            mustWait |= await apply();
            return await grants.CallAsync(revoke, keepLeases: false);
        });

        if (mustWait)
        {
            await grants.SettleAsync(Math.Max(unrevokedUntil, _absentViewsUntil));
        }

        _owed = false;
    }

    /// <summary>
    /// The deletion of the subject's row (<paramref name="delete"/>): every lease, of this activation or an earlier one,
    /// is revoked and every edge that does not confirm is waited out <em>before</em> the row goes, with lease requests
    /// held back until it has gone. So no lease of a stored record outlives its row, and an activation that finds no
    /// row knows that every earlier lease carried no record (<see cref="EarlierActivationsLeasedNoRecord"/>). Throws,
    /// with the row kept, when an edge can be neither reached nor expelled.
    /// <para>
    /// The deletion is sent only while this silo's membership is confirmed (the <paramref name="fence"/> given to the
    /// constructor, when silos can be replaced): a silo paused long enough to be declared dead must not delete the row
    /// once it resumes, since the activation that replaced it may have leased the record meanwhile, and the next one,
    /// finding no row, would not wait for those leases. Found by the simulation (a paused silo's deletion committed
    /// after its replacement had leased the record: 1 of 3,000 schedules).
    /// </para>
    /// </summary>
    public Task DeleteAsync(Func<Task> delete, Func<IDecisionLeaseHolder, Task> revoke) => WhileChangingAsync(async () =>
    {
        // An edge that decides the subject as absent already decides it as the deletion will leave it.
        await grants.SettleAsync(await grants.CallAsync(revoke, keepLeases: false));
        if (fence is not null)
        {
            await fence.WhenFreshAsync(FencePatience);
        }

        await delete();
        _owed = false;
        return true;
    });

    /// <summary>Runs <paramref name="work"/> with the gate set (<see cref="Changing"/>): lease requests wait until it completes.</summary>
    private async Task<T> WhileChangingAsync<T>(Func<Task<T>> work)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _changing = done.Task;
        try
        {
            return await work();
        }
        finally
        {
            _changing = null;
            done.SetResult();
        }
    }

    /// <summary>
    /// Before a write that changes nothing is acknowledged (a refusal, a repeated deletion): the state it reveals may be
    /// newer than what some edge still decides from (an earlier activation's lease, a change that failed half way, an
    /// edge that did not hear of the first write). Then it is settled as a restrictive change would be, after
    /// <paramref name="ensure"/> has finished what the failed change left undone.
    /// </summary>
    public Task SettleAsync(Func<Task> ensure, Func<IDecisionLeaseHolder, Task> revoke) =>
        _owed || EarlierActivationsMayHoldAnyState || _absentViewsUntil > time.GetTimestamp()
            ? ChangeAsync(async () =>
            {
                await ensure();
                return true;
            }, revoke)
            : Task.CompletedTask;

    /// <summary>
    /// Whether a change may turn an allowed check into a denied one: any status but active, or a grant replaced
    /// (by a withdrawal, or by a grant under other signals).
    /// </summary>
    public static bool Restricts(SubjectRecord before, SubjectRecord after)
    {
        if (after.Status != SubjectStatus.Active)
        {
            return true;
        }

        foreach (var (purpose, was) in before.Consents)
        {
            if (was.Granted && !ReferenceEquals(after.Consents.GetValueOrDefault(purpose), was))
            {
                return true;
            }
        }

        return false;
    }
}
