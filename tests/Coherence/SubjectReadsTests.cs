using ShopAstro.Coherence;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Tests.Infrastructure;

namespace ShopAstro.Tests.Coherence;

/// <summary>
/// What a subject grain's own reads (a check it answers itself, its record handed out, a lease granted) may see
/// (<see cref="SubjectLeases.ReadWhenStoredAsync"/>, docs/coherence.md S2): only stored state, judged in the same step
/// as the read, and never held up by a change that only waits for an unreachable edge's lease to run out. The
/// simulation explores the same rule with faults (<c>CoherenceSimulationTests</c>).
/// </summary>
public sealed class SubjectReadsTests
{
    private static readonly IDecisionLeaseHolder Edge1 = new NoOpLeaseHolder("edge1");
    private static readonly SubjectRecord Before = SubjectRecord.Empty with { Status = SubjectStatus.Active, LastWrittenAt = DateTimeOffset.UnixEpoch };
    private static readonly SubjectRecord After = SubjectRecord.Empty with { Status = SubjectStatus.Minor, LastWrittenAt = DateTimeOffset.UnixEpoch.AddSeconds(1) };

    [Fact]
    public async Task A_read_waits_while_a_change_stores_and_revokes_but_not_while_it_waits_for_an_expelled_edge()
    {
        var subject = new Subject(expelledFor: TimeSpan.FromHours(1));
        var written = new TaskCompletionSource();
        var change = subject.ChangeAsync(written.Task);

        // In memory, not yet stored: nobody reads it.
        var during = subject.Read();
        Assert.False(during.IsCompleted);

        written.SetResult();
        Assert.Equal(After, await during.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));

        // Stored, revoked where it could be; the edge that did not confirm was expelled and is waited out for an hour.
        Assert.False(change.IsCompleted);
        var later = subject.Read();
        Assert.True(later.IsCompletedSuccessfully);
        Assert.Equal(After, await later);
    }

    [Fact]
    public async Task After_a_write_whose_outcome_is_unknown_no_read_is_answered_not_even_one_that_was_waiting()
    {
        var subject = new Subject(expelledFor: TimeSpan.Zero);
        var written = new TaskCompletionSource();
        var change = subject.ChangeAsync(written.Task);
        var waiting = subject.Read();

        // The write may have been stored before its failure was seen: the state put back may not be the stored one.
        written.SetException(new TimeoutException("storage"));
        await Assert.ThrowsAsync<TimeoutException>(() => change);
        Assert.Equal(Before, subject.Record);

        await Assert.ThrowsAsync<StorageUnavailableException>(async () => await waiting);
        await Assert.ThrowsAsync<StorageUnavailableException>(async () => await subject.Read());
    }

    [Fact]
    public async Task A_read_that_waited_for_its_policy_copy_is_judged_again_against_a_change_that_began_meanwhile()
    {
        var time = new SteppingTime();
        var source = new PolicySource();
        var policy = new PolicyCopy(time, source);
        var subject = new Subject(expelledFor: TimeSpan.Zero, time);

        // The copy has never run: the read waits for a lease of it.
        var read = subject.Read(policy);
        Assert.False(read.IsCompleted);

        // Meanwhile a change begins to write.
        var written = new TaskCompletionSource();
        var change = subject.ChangeAsync(written.Task);
        source.Answer.SetResult(new PolicyLease(null, TimeSpan.FromSeconds(30)));
        await Task.Delay(50);
        Assert.False(read.IsCompleted);

        written.SetResult();
        await change.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(After, await read.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
    }

    /// <summary>A subject as <c>SubjectGrain</c> wires <see cref="SubjectLeases"/>: its record in memory, written inside a change.</summary>
    private sealed class Subject
    {
        private readonly SubjectLeases _leases;

        public Subject(TimeSpan expelledFor, SteppingTime? time = null)
        {
            time ??= new SteppingTime();
            _leases = new SubjectLeases(time, TestLeaseGrants.Of(time, [], _ => Task.FromResult(expelledFor)));
            _leases.Activated();
            _leases.EarlierActivationsLeasedNoRecord();
            _leases.Grant(Edge1, Record);
        }

        public SubjectRecord Record { get; private set; } = Before;

        public ValueTask<SubjectRecord> Read(PolicyCopy? policy = null) => _leases.ReadWhenStoredAsync(static subject => subject.Record, this, policy);

        /// <summary>A restrictive change whose write completes with <paramref name="written"/>; Edge1 never confirms its revocation.</summary>
        public Task ChangeAsync(Task written) => _leases.ChangeAsync(async () =>
        {
            // As DurableState and LeasedSubjectGrain.StoreAsync: in memory first, put back if the write fails.
            Record = After;
            try
            {
                await written;
            }
            catch
            {
                Record = Before;
                _leases.StateUnknown();
                throw;
            }

            return true;
        }, _ => Task.FromException(new TimeoutException("edge1 does not answer")));
    }

    private sealed class PolicySource : IPolicyLeaseSource
    {
        public TaskCompletionSource<PolicyLease> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<PolicyLease> AcquirePolicyLeaseAsync(PolicyStamp? held) => Answer.Task;

        public void Received(PolicyLease lease)
        {
        }
    }
}
