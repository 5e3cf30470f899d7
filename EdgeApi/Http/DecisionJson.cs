using System.Text.Json;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Http;

/// <summary>
/// A decision's fields as the contract names them (<see cref="DecisionItem"/>, <see cref="BatchResult"/>), encoded once,
/// for the responses written field by field rather than through the contract's objects: the single check's fast path
/// and the batch. Tests hold each against the serializer's output byte for byte.
/// </summary>
internal static class DecisionJson
{
    public static readonly JsonEncodedText SubjectIdName = JsonEncodedText.Encode("subjectId");
    public static readonly JsonEncodedText PurposeName = JsonEncodedText.Encode("purpose");
    public static readonly JsonEncodedText AllowedName = JsonEncodedText.Encode("allowed");
    public static readonly JsonEncodedText ReasonName = JsonEncodedText.Encode("reason");

    private static readonly JsonEncodedText[] PurposeIds = Encode<Purpose>(Purposes.ToId);
    private static readonly JsonEncodedText[] ReasonCodes = Encode<DecisionReason>(DecisionReasons.ToCode);

    /// <summary>"purpose", "allowed" and "reason" of <paramref name="decision"/>, in an object the caller opened.</summary>
    public static void WriteFields(Utf8JsonWriter writer, Decision decision)
    {
        writer.WriteString(PurposeName, PurposeIds[(int)decision.Purpose]);
        writer.WriteBoolean(AllowedName, decision.Allowed);
        writer.WriteString(ReasonName, ReasonCodes[(int)decision.Reason]);
    }

    private static JsonEncodedText[] Encode<T>(Func<T, string> id) where T : struct, Enum
    {
        var values = Enum.GetValues<T>();
        var encoded = new JsonEncodedText[values.Max(v => Convert.ToInt32(v, System.Globalization.CultureInfo.InvariantCulture)) + 1];
        foreach (var value in values)
        {
            encoded[Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture)] = JsonEncodedText.Encode(id(value));
        }

        return encoded;
    }
}
