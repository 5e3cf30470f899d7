using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Coherence;

/// <summary>The silo side of <see cref="LeaseRequestBatches"/>: a batch served where it arrived.</summary>
public static class LeaseBatchAnswers
{
    /// <summary>
    /// Serves a batch where it arrived (<see cref="IDecisionLeaseBatchGrain"/>): every subject is asked at once, with
    /// <paramref name="lease"/> as a call of its own, and each answer is that subject's lease or its failure.
    /// </summary>
    public static async Task<LeaseAnswer[]> AnswerEachAsync(LeaseAsk[] asks, Func<LeaseAsk, ValueTask<DecisionLease>> lease)
    {
        var calls = new ValueTask<DecisionLease>[asks.Length];
        for (var i = 0; i < asks.Length; i++)
        {
            try
            {
                calls[i] = lease(asks[i]);
            }
            catch (Exception exception)
            {
                calls[i] = ValueTask.FromException<DecisionLease>(exception);
            }
        }

        var answers = new LeaseAnswer[asks.Length];
        for (var i = 0; i < asks.Length; i++)
        {
            try
            {
                answers[i] = LeaseAnswer.Granted(await calls[i]);
            }
            catch (Exception exception)
            {
                answers[i] = LeaseAnswer.Failed(exception);
            }
        }

        return answers;
    }
}
