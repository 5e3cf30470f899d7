using System.Collections.Immutable;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains;

/// <summary>
/// Counts, record by record, what a draft version would change: each record is decided by the decision engine under
/// the version in force and under the draft, for every consent-based purpose, without browser signals. A store's
/// suspension is left out of both (it stops everything and says nothing of the grants): a draft that suspends still
/// shows which grants it makes stale.
/// </summary>
public sealed class PolicyImpactCounter(StorePolicy? current, StorePolicy draft)
{
    private readonly StorePolicy? _current = current is null ? null : current with { Status = StoreStatus.Active };
    private readonly StorePolicy _draft = draft with { Status = StoreStatus.Active };
    private readonly long[] _needReconsent = new long[Purposes.Count];
    private readonly long[] _newlyNeedReconsent = new long[Purposes.Count];
    private readonly long[] _loseGrant = new long[Purposes.Count];
    private long _records;

    public void Add(SubjectRecord record)
    {
        _records++;
        if (record.Consents.IsEmpty)
        {
            // No choice: no_consent under any version (or the status decides): nothing to count.
            return;
        }

        foreach (var purpose in Purposes.ConsentBased)
        {
            if (!record.Consents.ContainsKey(purpose))
            {
                continue;
            }

            var now = DecisionEngine.Decide(_current, record, purpose, RequestSignals.None).Reason;
            var then = DecisionEngine.Decide(_draft, record, purpose, RequestSignals.None).Reason;
            var index = (int)purpose;
            if (then == DecisionReason.ReconsentRequired)
            {
                _needReconsent[index]++;
                if (now == DecisionReason.Granted)
                {
                    _newlyNeedReconsent[index]++;
                }
            }
            else if (now == DecisionReason.Granted && then != DecisionReason.Granted)
            {
                _loseGrant[index]++;
            }
        }
    }

    public PolicyImpact Result(TimeSpan took) => new(
        _records,
        Purposes.ConsentBased.ToImmutableDictionary(
            purpose => purpose,
            purpose => new PurposeImpact(_needReconsent[(int)purpose], _newlyNeedReconsent[(int)purpose], _loseGrant[(int)purpose])),
        took);
}
