namespace ShopAstro.Grains.Interfaces;

// The API's ids of request types, rejection grounds and verification methods: closed lists, matched exactly.

public static class RequestTypes
{
    /// <summary>Deletion and cancellation requests are completed by erasing or cancelling the subject.</summary>
    public static bool ChangesTheSubject(this RequestType type) => type is RequestType.Deletion or RequestType.Cancellation;

    public static string ToId(this RequestType type) => type switch
    {
        RequestType.Access => "access",
        RequestType.Correction => "correction",
        RequestType.Deletion => "deletion",
        RequestType.Cancellation => "cancellation",
        RequestType.Withdrawal => "withdrawal",
        RequestType.Explanation => "explanation",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    public static bool TryParse(string? id, out RequestType type) => RequestIds.TryParse(id, ToId, out type);
}

/// <summary>The API's ids of the rejection grounds of §4(5).</summary>
public static class RejectionGrounds
{
    public static string ToId(this RejectionGround ground) => ground switch
    {
        RejectionGround.LegalObligation => "legal_obligation",
        RejectionGround.NationalSecurity => "national_security",
        RejectionGround.PublicInterest => "public_interest",
        RejectionGround.CriminalInvestigation => "criminal_investigation",
        RejectionGround.AbuseOfRights => "abuse_of_rights",
        RejectionGround.VitalInterests => "vital_interests",
        RejectionGround.HarmToOthers => "harm_to_others",
        RejectionGround.TradeSecrets => "trade_secrets",
        _ => throw new ArgumentOutOfRangeException(nameof(ground), ground, null),
    };

    public static bool TryParse(string? id, out RejectionGround ground) => RequestIds.TryParse(id, ToId, out ground);

    public static string AllIds => RequestIds.All<RejectionGround>(ToId);
}

/// <summary>The API's ids of identity verification methods.</summary>
public static class VerificationMethods
{
    public static string ToId(this VerificationMethod method) => method switch
    {
        VerificationMethod.AccountLogin => "account_login",
        VerificationMethod.SmsCode => "sms_code",
        VerificationMethod.EmailCode => "email_code",
        VerificationMethod.IdDocument => "id_document",
        VerificationMethod.Other => "other",
        _ => throw new ArgumentOutOfRangeException(nameof(method), method, null),
    };

    public static bool TryParse(string? id, out VerificationMethod method) => RequestIds.TryParse(id, ToId, out method);

    public static string AllIds => RequestIds.All<VerificationMethod>(ToId);
}

/// <summary>Closed lists of ids: an id parses only to a value whose id it is exactly.</summary>
internal static class RequestIds
{
    public static bool TryParse<T>(string? id, Func<T, string> toId, out T value) where T : struct, Enum
    {
        foreach (var candidate in Enum.GetValues<T>())
        {
            if (toId(candidate) == id)
            {
                value = candidate;
                return true;
            }
        }

        value = default;
        return false;
    }

    public static string All<T>(Func<T, string> toId) where T : struct, Enum =>
        string.Join(", ", Enum.GetValues<T>().Select(toId));
}
