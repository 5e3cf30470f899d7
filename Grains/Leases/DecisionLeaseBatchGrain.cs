using Orleans.Concurrency;
using ShopAstro.Coherence;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains.Leases;

/// <summary>
/// An edge's batch of decision lease requests, served in the silo it reached: each subject's grain is asked as the edge
/// would ask it, all at once, and each answers for itself (its lease or its failure). Holds nothing; interleaves freely.
/// </summary>
[StatelessWorker, Reentrant]
internal sealed class DecisionLeaseBatchGrain : Grain, IDecisionLeaseBatchGrain
{
    public Task<LeaseAnswer[]> LeaseDecisions(IDecisionLeaseHolder holder, LeaseAsk[] asks)
    {
        // The batch's timeout is longer than a check's, so CallDeadlineFilter gave it a deadline; lease requests are
        // reads bounded by the check timeout and go without one, as the edge's own calls of them do.
        CallDeadline.Clear();
        return LeaseBatchAnswers.AnswerEachAsync(asks, ask => GrainFactory.Of<ISubjectGrain>(ask.Key).LeaseDecisions(holder));
    }
}
