#include "SRealMasterPanel.h"

#include "RealMasterModule.h"
#include "Styling/AppStyle.h"
#include "Styling/CoreStyle.h"
#include "Widgets/Input/SButton.h"
#include "Widgets/Input/SCheckBox.h"
#include "Widgets/Input/SEditableTextBox.h"
#include "Widgets/Input/SSlider.h"
#include "Widgets/Layout/SBorder.h"
#include "Widgets/Layout/SScrollBox.h"
#include "Widgets/Layout/SWrapBox.h"
#include "Widgets/SBoxPanel.h"
#include "Widgets/Text/STextBlock.h"

#define LOCTEXT_NAMESPACE "SRealMasterPanel"

namespace
{
float GetStrength()
{
	return FCString::Atof(*FRealMasterModule::GetConsoleVariable(RealMasterCVarNames::Strength));
}

float GetUpsampleEps()
{
	return FCString::Atof(*FRealMasterModule::GetConsoleVariable(RealMasterCVarNames::UpsampleEps));
}

bool IsCinematic()
{
	return FRealMasterModule::GetConsoleVariable(RealMasterCVarNames::Mode)
	    .TrimStartAndEnd()
	    .Equals(TEXT("cinematic"), ESearchCase::IgnoreCase);
}

TSharedRef<SWidget> Label(const FText& Text)
{
	return SNew(STextBlock).Text(Text).Font(FCoreStyle::GetDefaultFontStyle("Bold", 10));
}
} // namespace

void SRealMasterPanel::Construct(const FArguments& InArgs)
{
	ChildSlot[SNew(SScrollBox) +
	          SScrollBox::Slot().Padding(8.0f)
	              [SNew(SVerticalBox) +
	               SVerticalBox::Slot().AutoHeight().Padding(0, 0, 0, 8)
	                   [SNew(SCheckBox)
	                        .IsChecked_Lambda(
	                            []()
	                            {
		                            return FRealMasterModule::GetConsoleVariable(RealMasterCVarNames::Enable) ==
		                                           TEXT("0")
		                                       ? ECheckBoxState::Unchecked
		                                       : ECheckBoxState::Checked;
	                            })
	                        .OnCheckStateChanged_Lambda(
	                            [](ECheckBoxState State)
	                            {
		                            FRealMasterModule::SetConsoleVariable(RealMasterCVarNames::Enable,
		                                                                  State == ECheckBoxState::Checked ? TEXT("1")
		                                                                                                   : TEXT("0"));
	                            })[SNew(STextBlock).Text(LOCTEXT("Enable", "Enable RealMaster in the viewports"))]] +
	               SVerticalBox::Slot().AutoHeight().Padding(0, 4)[Label(LOCTEXT("Prompt", "Prompt"))] +
	               SVerticalBox::Slot().AutoHeight().Padding(0, 2)
	                   [SAssignNew(PromptBox, SEditableTextBox)
	                        .Text_Lambda(
	                            []()
	                            {
		                            return FText::FromString(
		                                FRealMasterModule::GetConsoleVariable(RealMasterCVarNames::Prompt));
	                            })
	                        .HintText(LOCTEXT("PromptHint", "a preset name or free text, e.g. \"wet street at night\""))
	                        .OnTextCommitted(this, &SRealMasterPanel::CommitPrompt)] +
	               SVerticalBox::Slot().AutoHeight().Padding(0, 4)[MakePresetButtons()] +
	               SVerticalBox::Slot().AutoHeight().Padding(0, 8, 0, 2)[Label(LOCTEXT("Strength", "Strength"))] +
	               SVerticalBox::Slot().AutoHeight()
	                   [SNew(SHorizontalBox) +
	                    SHorizontalBox::Slot().FillWidth(
	                        1.0f)[SNew(SSlider)
	                                  .MinValue(0.0f)
	                                  .MaxValue(1.0f)
	                                  .Value_Lambda(
	                                      []()
	                                      {
		                                      return GetStrength();
	                                      })
	                                  .OnValueChanged_Lambda(
	                                      [](float Value)
	                                      {
		                                      FRealMasterModule::SetConsoleVariable(RealMasterCVarNames::Strength,
		                                                                            FString::SanitizeFloat(Value));
	                                      })] +
	                    SHorizontalBox::Slot().AutoWidth().Padding(8, 0, 0, 0)[SNew(STextBlock)
	                                                                               .Text_Lambda(
	                                                                                   []()
	                                                                                   {
		                                                                                   return FText::AsNumber(
		                                                                                       GetStrength());
	                                                                                   })]] +
	               SVerticalBox::Slot().AutoHeight().Padding(
	                   0, 8, 0, 2)[Label(LOCTEXT("UpsampleEps", "Fine detail (guided upsample)"))] +
	               SVerticalBox::Slot().AutoHeight()[MakeUpsampleEpsButtons()] +
	               SVerticalBox::Slot().AutoHeight().Padding(
	                   0, 8, 0,
	                   2)[SNew(SCheckBox)
	                          .IsChecked_Lambda(
	                              []()
	                              {
		                              return IsCinematic() ? ECheckBoxState::Checked : ECheckBoxState::Unchecked;
	                              })
	                          .OnCheckStateChanged_Lambda(
	                              [](ECheckBoxState State)
	                              {
		                              FRealMasterModule::SetConsoleVariable(
		                                  RealMasterCVarNames::Mode,
		                                  State == ECheckBoxState::Checked ? TEXT("cinematic") : TEXT("realtime"));
	                              })
	                          .ToolTipText(LOCTEXT("CinematicTip", "Every frame waits for its inference (slow, exact). "
	                                                               "Movie Render Queue renders use this."))
	                              [SNew(STextBlock)
	                                   .Text(LOCTEXT("Cinematic", "Cinematic mode (wait for every frame)"))]] +
	               SVerticalBox::Slot().AutoHeight().Padding(0, 12, 0, 2)[Label(LOCTEXT("Stats", "Live statistics"))] +
	               SVerticalBox::Slot()
	                   .AutoHeight()[SNew(SBorder)
	                                     .BorderImage(FAppStyle::GetBrush("ToolPanel.GroupBorder"))
	                                     .Padding(6.0f)[SNew(STextBlock)
	                                                        .Text(this, &SRealMasterPanel::GetStatsText)
	                                                        .Font(FCoreStyle::GetDefaultFontStyle("Mono", 9))]] +
	               SVerticalBox::Slot().AutoHeight().Padding(
	                   0, 6)[SNew(STextBlock)
	                             .Text(this, &SRealMasterPanel::GetMessageText)
	                             .AutoWrapText(true)
	                             .ColorAndOpacity(FLinearColor(1.0f, 0.75f, 0.3f))]]];
}

TSharedRef<SWidget> SRealMasterPanel::MakePresetButtons()
{
	TSharedRef<SWrapBox> Box = SNew(SWrapBox).UseAllottedSize(true);
	for (const FString& Preset : FRealMasterModule::GetWeatherPresets())
	{
		Box->AddSlot().Padding(2.0f)[SNew(SButton)
		                                 .Text(FText::FromString(Preset.Replace(TEXT("_"), TEXT(" "))))
		                                 .ToolTipText(FText::Format(LOCTEXT("PresetTip", "r.RealMaster.Prompt {0}"),
		                                                            FText::FromString(Preset)))
		                                 .OnClicked_Lambda(
		                                     [Preset]()
		                                     {
			                                     FRealMasterModule::SetConsoleVariable(RealMasterCVarNames::Prompt,
			                                                                           Preset);
			                                     return FReply::Handled();
		                                     })];
	}
	return Box;
}

TSharedRef<SWidget> SRealMasterPanel::MakeUpsampleEpsButtons()
{
	// Three measured values (docs/photoreal.md) rather than a slider over six decades.
	TSharedRef<SWrapBox> Box = SNew(SWrapBox).UseAllottedSize(true);
	for (const FRealMasterModule::FUpsampleEpsStep& Step : FRealMasterModule::GetUpsampleEpsSteps())
	{
		const float Value = Step.Value;
		Box->AddSlot().Padding(
		    2.0f)[SNew(SCheckBox)
		              .Style(FAppStyle::Get(), "RadioButton")
		              .IsChecked_Lambda(
		                  [Value]()
		                  {
			                  return FMath::IsNearlyEqual(GetUpsampleEps(), Value, Value * 1e-3f)
			                             ? ECheckBoxState::Checked
			                             : ECheckBoxState::Unchecked;
		                  })
		              .OnCheckStateChanged_Lambda(
		                  [Value](ECheckBoxState)
		                  {
			                  FRealMasterModule::SetConsoleVariable(RealMasterCVarNames::UpsampleEps,
			                                                        FString::SanitizeFloat(Value));
		                  })
		              .ToolTipText(FText::Format(LOCTEXT("UpsampleEpsTip", "{0} r.RealMaster.UpsampleEps {1}"),
		                                         FText::FromString(Step.Tip),
		                                         FText::FromString(FString::SanitizeFloat(
		                                             Value))))[SNew(STextBlock).Text(FText::FromString(Step.Label))]];
	}
	Box->AddSlot().Padding(6.0f, 2.0f)[SNew(STextBlock)
	                                       .Text_Lambda(
	                                           []()
	                                           {
		                                           return FText::FromString(
		                                               FString::Printf(TEXT("ridge %g"), GetUpsampleEps()));
	                                           })];
	return Box;
}

void SRealMasterPanel::CommitPrompt(const FText& Text, ETextCommit::Type CommitType)
{
	if (CommitType == ETextCommit::OnEnter || CommitType == ETextCommit::OnUserMovedFocus)
	{
		FRealMasterModule::SetConsoleVariable(RealMasterCVarNames::Prompt, Text.ToString().TrimStartAndEnd());
	}
}

FText SRealMasterPanel::GetStatsText() const
{
	const FRealMasterStatus S = FRealMasterModule::Get().GetStatus();
	if (!S.bSessionActive)
	{
		return S.bCreatingSession ? LOCTEXT("Loading", "Loading the model...")
		                          : LOCTEXT("Idle", "No session (disabled or failed).");
	}
	const FString Text =
	    FString::Printf(TEXT("State            %s\nFrame path       %s\nExecution provider %s\nMode             "
	                         "%s\nPrompt           %s\nInference        %.2f ms\n"
	                         "Pre / composite  %.2f / %.2f ms\nFrames in / out  %llu / %llu\nDropped          %llu\n"
	                         "Captures skipped %llu\nOutput latency   %llu frames"),
	                    S.bEnhancing ? TEXT("enhancing") : TEXT("passing through"), *S.FramePath, *S.ExecutionProvider,
	                    *S.Mode, *S.Prompt, S.InferenceMs, S.PreprocessMs, S.CompositeMs, S.FramesSubmitted,
	                    S.FramesOutput, S.FramesDropped, S.CapturesSkipped, S.OutputLatencyFrames);
	return FText::FromString(Text);
}

FText SRealMasterPanel::GetMessageText() const
{
	return FText::FromString(FRealMasterModule::Get().GetStatus().Message);
}

#undef LOCTEXT_NAMESPACE
